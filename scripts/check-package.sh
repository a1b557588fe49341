#!/usr/bin/env bash
# Checks a packed mvface tarball as a user meets it, each in a new empty folder:
#   contents <tarball>                    what it ships: dist/ (JS, ESM entry, declarations), the
#                                         native sources, the build script, LICENSE, the PyTorch twins;
#                                         no source maps, no development scripts
#   prebuild <tarball> <libtorch tag>     npm install --ignore-scripts, then require and import load a
#                                         prebuilt binary (not a local build) made for that libtorch
#   source-build <tarball> <libtorch dir> npm install --ignore-scripts, `npx mvface build --libtorch
#                                         <dir>`, then require loads the local build, from LIBTORCH
# Needs node and npm; a source build needs cmake, a C++ compiler and the libjpeg, libpng, zlib headers.
set -euo pipefail
say() { printf '\033[1mcheck-package:\033[0m %s\n' "$*"; }
fail() {
  say "FAILED: $*"
  exit 1
}
[ $# -ge 2 ] || { echo "usage: bash scripts/check-package.sh contents|prebuild|source-build <tarball> [tag|libtorch dir]" >&2; exit 2; }
what=$1
tarball=$(readlink -f "$2")
[ -f "$tarball" ] || fail "no tarball $2"

consumer() {
  dir=$(mktemp -d)
  cd "$dir"
  npm init -y >/dev/null
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$tarball"
}

contents() {
  local list
  list=$(tar -tzf "$tarball" | sed 's|^package/||')
  for f in dist/lib/index.js dist/lib/index.mjs dist/lib/index.d.ts dist/lib/index.d.mts dist/lib/cli/main.js dist/lib/native/build.js \
    LICENSE README.md package.json CMakeLists.txt scripts/build-native.js scripts/install.js python/mvface_backbones.py \
    native/core/torch_compat.h cmake/FindLibtorch.cmake; do
    grep -qx "$f" <<<"$list" || fail "$f is not in the tarball"
  done
  if grep -E '\.map$|^scripts/setup$|^test/|^bench/|^lib/' <<<"$list"; then fail "the tarball ships the files above, which do not run from the package"; fi
  say "contents OK: $(wc -l <<<"$list") files, $(du -h "$tarball" | cut -f1); prebuilds: $(grep -c '^prebuilds/.*\.node$' <<<"$list" || true)"
}

prebuild() {
  local tag=$1
  consumer
  node -e "
    const i = require('mvface').backendInfo();
    if (i.binary.kind !== 'prebuild') throw new Error('not a prebuild: ' + i.binary.kind + ' ' + i.binary.file);
    if (i.libtorchTag !== '$tag') throw new Error('the prebuild for ' + i.libtorchTag + ', expected $tag');
    console.log('require: libtorch', i.libtorchVersion, 'from', i.binary.file);"
  node --input-type=module -e "
    import { backendInfo } from 'mvface';
    const i = backendInfo();
    if (i.binary.kind !== 'prebuild' || i.libtorchTag !== '$tag') throw new Error('import loaded ' + i.binary.file);
    console.log('import: libtorch', i.libtorchVersion, 'from', i.binary.file);"
  say "prebuild OK: $tag"
}

source_build() {
  local libtorch
  libtorch=$(readlink -f "$1")
  consumer
  npx mvface build --libtorch "$libtorch"
  node -e "
    const i = require('mvface').backendInfo();
    if (i.binary.kind !== 'local' || i.libtorchSource !== 'LIBTORCH') throw new Error('loaded ' + i.binary.kind + ' ' + i.binary.file + ' from ' + i.libtorchSource);
    console.log('require: the local build', i.binary.file, 'libtorch', i.libtorchVersion, '(' + i.libtorchTag + ')');"
  say "source build OK"
}

case $what in
  contents) contents ;;
  prebuild) prebuild "${3:?the libtorch tag the prebuild must have}" ;;
  source-build) source_build "${3:?a libtorch folder}" ;;
  *) fail "unknown check $what" ;;
esac
