// The fused batch norm's checks (norm_checks.cpp) with its CUDA kernels on the first GPU, against
// libtorch's modules in float64 on the CPU, with TensorFloat-32 off (the backbones' convolutions in
// IEEE float32). Built with the GPU build (target mvface_check_norm_cuda); run by scripts/gpu-check.sh.
// Exits 1 on a mismatch, 2 without a CUDA device.
#include <ATen/Context.h>

#include <cstdio>

#include "cuda/checks/norm_checks.h"

int main() {
  if (!at::hasCUDA()) {
    std::printf("check_norm_cuda: no CUDA device\n");
    return 2;
  }
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  at::manual_seed(7);
  int total = 0;
  const int failed = mvface::norm_checks::check_cases(at::Device(at::kCUDA, 0), total);
  std::printf("fused batch norm on CUDA: %d of %d checks passed\n", total - failed, total);
  return failed == 0 ? 0 : 1;
}
