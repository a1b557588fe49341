#!/usr/bin/env bash
# Runs a command in a fresh Debian root (bookworm = Debian 12, trixie = Debian 13) on a copy of this
# working tree, as a new user's machine would run it: only Debian's packages, Node 20, root.
#   sudo bash scripts/debian-root.sh trixie                 # npm test in a fresh Debian 13
#   sudo bash scripts/debian-root.sh bookworm npm run demo
#   sudo bash scripts/debian-root.sh trixie --keep bash     # a shell; the root is kept afterwards
# Options before the command: --keep (keep the root), --copy FILE (also copy FILE, e.g. an ignored
# tarball, into /work/mvface), --bring PATH (after the command, copy /work/mvface/PATH back into this
# tree, e.g. prebuilds). Each may repeat.
# The pristine root (debootstrap --variant=minbase, main and contrib) is made once and cached as a
# tarball under $MVFACE_ROOTS (default /var/cache/mvface/roots), with apt's downloaded packages and
# ccache's files beside it, so later runs unpack, install and build from the cache. Each run gets a
# new root from that tarball; the working tree's tracked and untracked, not ignored files are copied
# to /work/mvface in it. This machine's node and npm are copied in (Node 20, as on a fresh machine),
# and so is how it reaches the network: its certificate authorities (a TLS-inspecting proxy's too)
# and proxy variables. A CUDA toolkit in /usr/local/cuda is mounted read-only, for the CUDA compile
# check. Needs root, debootstrap (installed with apt when missing) and Debian's mirror. Exits with
# the command's status.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$PWD

usage() {
  echo "usage: bash scripts/debian-root.sh bookworm|trixie [--keep] [--copy FILE] [--bring PATH] [command ...]   (default: npm test)" >&2
  exit 2
}
[ $# -ge 1 ] || usage
suite=$1
shift
case $suite in bookworm | trixie) ;; *) usage ;; esac
keep=0
copies=()
brings=()
while [ $# -gt 0 ]; do
  case $1 in
    --keep) keep=1 ;;
    --copy) copies+=("${2:?--copy needs a file}"); shift ;;
    --bring) brings+=("${2:?--bring needs a path}"); shift ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || set -- npm test
[ "$(id -u)" = 0 ] || { echo "debian-root: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }

say() { printf '\033[1mdebian-root:\033[0m %s\n' "$*"; }
roots=${MVFACE_ROOTS:-/var/cache/mvface/roots}
mirror=${MVFACE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$roots/$suite-base.tar
mkdir -p "$roots/apt-$suite" "$roots/ccache-$suite" "$roots/npm"

make_base() {
  command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }
  local dir=$roots/$suite-base.new
  rm -rf "$dir"
  say "debootstrap $suite from $mirror (once; cached in $base)"
  debootstrap --variant=minbase --components=main,contrib --cache-dir="$roots/apt-$suite" "$suite" "$dir" "$mirror" \
    >"$roots/$suite-debootstrap.log" 2>&1 || { tail -n 20 "$roots/$suite-debootstrap.log"; exit 1; }
  tar -C "$dir" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$dir"
}
[ -f "$base" ] || make_base

root=$(mktemp -d "$roots/$suite-run.XXXXXX")
cleanup() {
  if [ $keep = 1 ]; then say "kept $root"; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
ca_bundle=""
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  ca_bundle=/etc/ssl/certs/ca-certificates.crt
fi
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi

say "copying the working tree to $suite:/work/mvface"
mkdir -p "$root/work/mvface"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$root/work/mvface" -xf -
for f in "${copies[@]}"; do cp -a "$f" "$root/work/mvface/"; done

node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
install -D "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

cuda=""
if [ -d /usr/local/cuda/bin ]; then cuda=$(readlink -f /usr/local/cuda); fi

# A private mount namespace: the mounts end with the command.
say "$suite: $*"
status=0
unshare --mount --propagation private bash -s -- "$root" "$roots" "$suite" "$cuda" "$ca_bundle" "$@" <<'INNER' || status=$?
set -euo pipefail
root=$1 roots=$2 suite=$3 cuda=$4 ca_bundle=$5
shift 5
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t sysfs sysfs "$root/sys"
mount -t tmpfs -o size=4g tmpfs "$root/dev/shm"
mkdir -p "$root/var/cache/apt/archives" "$root/root/.cache/ccache" "$root/root/.npm"
mount --bind "$roots/apt-$suite" "$root/var/cache/apt/archives"
mount --bind "$roots/ccache-$suite" "$root/root/.cache/ccache"
mount --bind "$roots/npm" "$root/root/.npm"
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ -n "$cuda" ]; then
  mkdir -p "$root$cuda" && mount --bind -o ro "$cuda" "$root$cuda"
  ln -sfn "$cuda" "$root/usr/local/cuda"
  path=$path:/usr/local/cuda/bin
fi
quoted=$(printf '%q ' "$@")
network=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && network+=("$v=${!v}")
done
[ -n "$ca_bundle" ] && network+=("NODE_EXTRA_CA_CERTS=$ca_bundle" "npm_config_cafile=$ca_bundle")
exec chroot "$root" /usr/bin/env -i HOME=/root PATH="$path" LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" \
  MVFACE_BUILD_JOBS="${MVFACE_BUILD_JOBS:-2}" "${network[@]}" bash -c "cd /work/mvface && $quoted"
INNER
say "$suite: exit $status"
if [ $status = 0 ]; then
  for p in "${brings[@]}"; do
    [ -e "$root/work/mvface/$p" ] || { say "nothing at $p to bring back"; continue; }
    mkdir -p "$(dirname "$p")"
    cp -a "$root/work/mvface/$p" "$(dirname "$p")/" && say "brought back $p"
  done
fi
exit $status
