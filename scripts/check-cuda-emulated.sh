#!/usr/bin/env bash
# Runs the CUDA loss driver with its kernels emulated on the CPU (native/core/cuda/emulation/)
# against the fused CPU path, whole and class-chunked (chunkClasses), and the fused batch norm's
# driver against libtorch's batch_norm + prelu + add in float64: the kernels' logic checked on a
# machine without a GPU. Every case runs under several orders of the threads of a block (index
# order, reversed, seeded shuffles; MVFACE_EMULATION_ORDERS picks them, see emulate.h), so that a
# missing __syncthreads() gives wrong values; the emulation aborts with file:line on a barrier
# reached from two call sites or left waiting by a thread that ended, a shuffle whose mask its lanes
# do not honour, a deadlock, and a misaligned vector (float4, 16-byte) access, which inputs one
# element off their storage's start exercise. Needs the CPU addon's core library (MVFACE_BUILD_DIR,
# default build) and the CUDA headers (nvcc's toolkit).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MVFACE_BUILD_DIR:-build}
core=$build/libmvface_core.a
[ -f "$core" ] || { echo "check-cuda-emulated: no $core; build the addon first (node scripts/build-native.js)"; exit 1; }
cuda=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")}
[ -f "$cuda/include/cuda_runtime_api.h" ] || cuda=/usr/local/cuda
torch_include=$(dirname "$(find /usr/include /usr/local/include ${LIBTORCH:+$LIBTORCH/include} -maxdepth 2 -name ATen -type d 2>/dev/null | head -n 1)")
flags=(-std=c++20 -O2 -DMVFACE_CUDA_EMULATION -D_GLIBCXX_USE_CXX11_ABI=1 -Wall -Wno-unused-parameter -Wno-attributes
  -Wno-unknown-pragmas -Inative/core -I"$torch_include" -I"$torch_include/torch/csrc/api/include" -I"$cuda/include")
libs=("$core" ${LIBTORCH:+-L$LIBTORCH/lib -Wl,-rpath,$LIBTORCH/lib} -ltorch -ltorch_cpu -lc10 -ljpeg -lpng -lz
  -L"$cuda/lib64" -lcudart_static -ldl -lrt -pthread)
# The fused loss's row pass.
g++ "${flags[@]}" native/core/cuda/emulation/check_kernels.cpp native/core/cuda/host/fused_loss.cpp \
  -x c++ native/core/cuda/row_plan.cu -x none "${libs[@]}" -o "$build/check-cuda-emulated" &
# The fused batch norm (+ PReLU, + residual) of the backbones: the CUDA kernels emulated, and the CPU passes.
g++ "${flags[@]}" native/core/cuda/emulation/check_norm.cpp native/core/cuda/checks/norm_checks.cpp native/core/norm/fused_norm.cpp \
  -x c++ native/core/cuda/row_plan.cu -x none "${libs[@]}" -o "$build/check-norm-emulated"
wait $!
"$build/check-cuda-emulated"
"$build/check-norm-emulated"
