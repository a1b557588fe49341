#pragma once
// The fused batch norm's checks against libtorch in float64 (norm_checks.cpp), shared by the
// emulated kernels' check and the GPU's.
#include <ATen/ATen.h>

namespace mvface::norm_checks {

// Every case with the fused path on `device` (the reference on the CPU); prints a line per check,
// returns the failures and adds the checks to `total`. On the CPU the CPU passes run, or the
// emulated kernels under MVFACE_CUDA_EMULATION with norm::emulate_cuda_kernels set.
int check_cases(at::Device device, int& total);

// The inputs the fused path must refuse (on the CPU); prints a line, returns whether all were.
bool check_refusals();

}  // namespace mvface::norm_checks
