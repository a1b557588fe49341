#!/usr/bin/env bash
# Prepares, on a development machine, what scripts/gpu-check.sh needs on the GPU machine and cannot
# get there (no Node, no network), in .gpu-check/ (ignored through .git/info/exclude):
#   node.xz        this machine's node binary, xz-compressed (about 24 MB)
#   npm.tar.xz     node_modules (without typescript) and dist/ (tsc output, for the benchmark)
#   debs/          Debian's libjpeg / libpng / zlib dev packages, used there only if the image
#                  lacks those headers
#   build-gpu.tar.xz  (optional) call 1's build, copied here from its $OUT, so that a call on a
#                  fresh machine need not build again
# Then `bash scripts/gpu-check.sh --dry-run` prints the two calls (tests, then benchmarks), each with
# `.gpu-check` carried.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu-check
say() { printf '\033[1mpack-gpu-check:\033[0m %s\n' "$*"; }

exclude=.git/info/exclude
if [ -d .git ] && ! grep -qx "/$dir/" "$exclude" 2>/dev/null; then echo "/$dir/" >>"$exclude"; fi
mkdir -p "$dir/debs"

node_bin=$(command -v node)
if [ ! -s "$dir/node.xz" ] || [ "$(cat "$dir/node.version" 2>/dev/null)" != "$(node --version)" ]; then
  say "compressing $node_bin ($(node --version))"
  xz -T0 -6 -c "$node_bin" >"$dir/node.xz.tmp" && mv "$dir/node.xz.tmp" "$dir/node.xz"
  node --version >"$dir/node.version"
fi

say "compiling TypeScript into $dir/stage/dist"
rm -rf "$dir/stage"
npx tsc -p tsconfig.json --outDir "$dir/stage/dist" || say "tsc reported errors (output written anyway)"
for f in bench/loss.js bench/train-gpu.js bench/norm-gpu.js lib/bench/train-bench.js; do
  [ -f "$dir/stage/dist/$f" ] || { say "no dist/$f: cannot pack the benchmarks"; exit 1; }
done
say "packing node_modules and dist"
tar -cf - --exclude=node_modules/typescript --exclude=node_modules/.cache node_modules \
  -C "$dir/stage" dist | xz -T0 -6 >"$dir/npm.tar.xz"
rm -rf "$dir/stage"

if command -v apt-get >/dev/null 2>&1; then
  say "downloading libjpeg, libpng and zlib dev packages (used only where the GPU image lacks them)"
  (cd "$dir/debs" && rm -f ./*.deb &&
    apt-get download libjpeg62-turbo libjpeg62-turbo-dev libpng16-16 libpng-dev zlib1g zlib1g-dev >/dev/null 2>&1) ||
    say "apt-get download failed (run 'apt-get update' first): the GPU image must then have those headers"
fi

say "carried: $(du -sh "$dir" | cut -f1) in $dir; working tree: $(git ls-files -co --exclude-standard -z | du -ch --files0-from=- 2>/dev/null | tail -1 | cut -f1)"
ls -la "$dir" "$dir/debs"
echo
echo "Next: bash scripts/gpu-check.sh --dry-run (here), then its two calls on the GPU machine."
