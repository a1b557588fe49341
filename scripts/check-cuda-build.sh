#!/usr/bin/env bash
# Compiles every translation unit of the GPU build without linking it, so that an API break in
# libtorch or CUDA shows on a machine without a GPU: the kernels by nvcc (sm_80, sm_90), the core,
# its CUDA driver (native/core/cuda/host) and the bindings with MVFACE_WITH_CUDA=1, against the
# headers of a CUDA libtorch 2.x: Debian 13's libtorch-cuda-dev (contrib), fetched with
# `apt-get download` and unpacked here (installing it would pull packages from outside Debian; the
# headers are all the check needs). MVFACE_CUDA_TORCH_HEADERS=<include folder> takes other headers.
# Needs nvcc (PATH, CUDA_HOME or /usr/local/cuda) and the CPU build's tools (scripts/setup).
#   sudo bash scripts/debian-root.sh trixie bash -c 'bash scripts/setup && bash scripts/check-cuda-build.sh'
# The build folder is build-cuda-check/; every compile error is shown (the build keeps going).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1mcheck-cuda-build:\033[0m %s\n' "$*"; }

headers=${MVFACE_CUDA_TORCH_HEADERS:-}
if [ -z "$headers" ]; then
  unpacked=build-cuda-check/libtorch-cuda-dev
  if [ ! -f "$unpacked/usr/include/c10/cuda/CUDAStream.h" ]; then
    say "fetching Debian's libtorch-cuda-dev (headers only)"
    rm -rf "$unpacked" && mkdir -p "$unpacked/deb"
    (cd "$unpacked/deb" && apt-get download libtorch-cuda-dev 2>&1 | grep -v "unsandboxed" || true)
    deb=$(ls "$unpacked"/deb/libtorch-cuda-dev_*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || { say "apt-get download libtorch-cuda-dev failed: it is in Debian 13's contrib section (run apt-get update?)"; exit 1; }
    dpkg -x "$deb" "$unpacked"
  fi
  headers=$PWD/$unpacked/usr/include
fi
if ! command -v nvcc >/dev/null; then
  for dir in "${CUDA_HOME:-}/bin" /usr/local/cuda/bin; do [ -x "$dir/nvcc" ] && PATH=$PATH:$dir && break; done
fi
command -v nvcc >/dev/null || { say "no nvcc (PATH, CUDA_HOME or /usr/local/cuda)"; exit 1; }
version=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ {v = v (v ? "." : "") $3} END {print v}' "$headers/torch/csrc/api/include/torch/version.h")
say "libtorch ${version:-?} headers in $headers; nvcc: $(nvcc --version | tail -n 1)"
MVFACE_CUDA_COMPILE_ONLY=1 MVFACE_CUDA_TORCH_HEADERS=$headers MVFACE_BUILD_DIR=build-cuda-check \
  node scripts/build-native.js --keep-going --target mvface_gpu_check --log-level error
say "OK: every translation unit of the GPU build compiles"
