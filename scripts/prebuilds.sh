#!/usr/bin/env bash
# The prebuilt binaries a published package ships: one per libtorch a package manager gives, each
# built in a fresh root of its Debian release with only what the native build needs from apt
# (scripts/setup --build): Debian 12 (libtorch-dev 1.13) and Debian 13 (libtorch-dev 2.6), CPU.
# Writes prebuilds/linux-x64/mvface.glibc.<libtorch tag>.node; then `npm pack` or `npm publish`.
# Needs root (scripts/debian-root.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf prebuilds
for suite in bookworm trixie; do
  bash scripts/debian-root.sh "$suite" --bring prebuilds bash -c 'bash scripts/setup --build && npm run prebuildify'
done
ls -l prebuilds/linux-x64
