// The fused batch norm's CPU passes (the CPU's default in training) against libtorch in float64:
// every op case, the storage offsets and the gradients of MobileFaceNet and IResNet-18, then the
// inputs the fused path must refuse. Built in development builds (MVFACE_BUILD_CHECKS); npm test
// runs it. Exits 1 on a mismatch.
#include <ATen/ATen.h>

#include <cstdio>

#include "cuda/checks/norm_checks.h"

int main() {
  int total = 0;
  at::manual_seed(7);
  int failed = mvface::norm_checks::check_cases(at::kCPU, total);
  ++total;
  failed += !mvface::norm_checks::check_refusals();
  std::printf("fused batch norm: %d of %d checks passed\n", total - failed, total);
  return failed == 0 ? 0 : 1;
}
