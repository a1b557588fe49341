#pragma once
// Batch norm with the batch's statistics (training mode), fused with an optional PReLU and an
// optional residual add: out = prelu(bn(x)) + residual, in the fewest passes over memory. Plain
// device pointers and no ATen: it compiles with nvcc alone (CI, no GPU), and emulation/ runs it on
// the CPU. The math is PyTorch's: biased variance to normalise, unbiased to update the running
// variance, PReLU's x > 0 ? x : a x, gradients as torch.autograd gives them.
//
// Passes, all on one stream:
//   forward:  per (channel tile, split) a partial Welford state of x; per channel, mean and 1/std,
//             the running statistics and the affine coefficients; then out per element.
//   backward: per (channel tile, split) partial sums of dy, dy x̂ and the PReLU slope's gradient,
//             with y recomputed from x (it is never stored); per channel the parameters'
//             gradients; then grad x per element.
// Element types: float32 or bfloat16 (x, residual, out and the gradients of x and out); statistics,
// parameters and their gradients are float32.
#include <cuda_runtime_api.h>

#include "norm/norm_args.h"

namespace mvface::cuda {

using norm::kNormThreads;
using norm::NormArgs;
using norm::NormDtype;
using norm::NormShape;

// Each makes `device` current in the CUDA runtime its launches bind to (libtorch's, which the build
// links: cmake/Cuda.cmake; then libtorch's device guard has done it already) and returns the first
// CUDA error of its launches (cudaSuccess when all went in).
cudaError_t launch_norm_forward(const NormArgs& a, int device, cudaStream_t stream);
cudaError_t launch_norm_backward(const NormArgs& a, int device, cudaStream_t stream);

}  // namespace mvface::cuda
