#pragma once
// The fused batch norm (+ PReLU) (+ residual) on the CPU: the passes of cuda/norm_kernels.h, with the
// same arguments, on libtorch's intra-op threads. Statistics and per-channel sums in float64.
// Reads a.shape's C, positions and inner only (the rest plans CUDA blocks); needs no workspace.
#include "norm/norm_args.h"

namespace mvface::norm {

// a.mean, a.invstd, the running statistics (when given) and a.out.
void norm_forward_cpu(const NormArgs& a);
// a.grad_x, a.grad_weight, a.grad_bias, a.grad_alpha (per channel, when there is a PReLU).
void norm_backward_cpu(const NormArgs& a);

}  // namespace mvface::norm
