#pragma once
// The fused batch norm (+ PReLU) (+ residual) on ATen tensors, as an autograd function: gradients for
// x, the BN weight and bias, the PReLU slopes and the residual. On CUDA the kernels of
// cuda/norm_kernels.h run it, on the CPU norm/norm_cpu.h. Only the input x is kept for the
// backward (the BN output is recomputed), not the BN output and the PReLU output as the separate
// modules keep them.
#include <ATen/ATen.h>

namespace mvface::norm {

struct NormActParams {
  at::Tensor weight, bias;               // C, float32
  at::Tensor running_mean, running_var;  // C float32, updated in place; or both undefined
  at::Tensor alpha;                      // PReLU slopes, C or 1, float32; or undefined: no PReLU
  double eps = 1e-5, momentum = 0.1;
};

// Whether norm_act() takes these: a 4-d float32 or bfloat16 x on the CPU or a CUDA device of this
// build, NCHW-contiguous or channels-last, under 2^31 elements, more than one value per channel;
// affine float32 parameters on x's device; a residual, when defined, of x's shape, type and strides.
bool norm_act_supported(const at::Tensor& x, const NormActParams& p, const at::Tensor& residual);

// prelu(batch_norm(x)) + residual with the batch's statistics (training mode), PReLU and residual
// each when defined. Throws E_SHAPE where norm_act_supported() is false. The running statistics
// move by `momentum`; counting num_batches_tracked is the caller's.
at::Tensor norm_act(const at::Tensor& x, const NormActParams& p, const at::Tensor& residual);

#ifdef MVFACE_CUDA_EMULATION
// cuda/emulation/: CPU tensors run the CUDA kernels, emulated, instead of the CPU passes.
extern bool emulate_cuda_kernels;
#endif

}  // namespace mvface::norm
