// The fused batch norm's checks (cuda/checks/norm_checks.cpp) with the CUDA kernels run on the CPU by
// emulate.h, under each thread order of emulation::orders() (the emulation aborts on a misaligned
// vector access, a barrier met from two call sites, a bad shuffle mask), then with the CPU passes
// (norm/norm_cpu.cpp); then the inputs the fused path must refuse. Built and run by
// scripts/check-cuda-emulated.sh; exits 1 on a mismatch.
#include "cuda/emulation/emulate.h"
// The kernels, after the emulation's definitions.
#include "cuda/norm_kernels.cuh"

#include <cstdio>

#include "cuda/checks/norm_checks.h"
#include "norm/fused_norm.h"

namespace mvface::cuda {
namespace {

struct EmulatedLaunch {
  void operator()(void (*kernel)(NormArgs), unsigned blocks, const NormArgs& a) const {
    emulation::launch(blocks, kNormThreads, [&] { kernel(a); });
  }
};

}  // namespace

cudaError_t launch_norm_forward(const NormArgs& a, int, cudaStream_t) {
  kernels::norm_forward(a, EmulatedLaunch{});
  return cudaSuccess;
}

cudaError_t launch_norm_backward(const NormArgs& a, int, cudaStream_t) {
  kernels::norm_backward(a, EmulatedLaunch{});
  return cudaSuccess;
}

}  // namespace mvface::cuda

int main() {
  using mvface::norm_checks::check_cases;
  int total = 0, failed = 0;
  mvface::norm::emulate_cuda_kernels = true;
  for (const emulation::Order& order : emulation::orders()) {
    emulation::use_order(order);
    std::printf("== the CUDA kernels, emulated, thread order %s\n", order.name().c_str());
    at::manual_seed(7);
    failed += check_cases(at::kCPU, total);
  }
  mvface::norm::emulate_cuda_kernels = false;
  std::printf("== the CPU passes\n");
  at::manual_seed(7);
  failed += check_cases(at::kCPU, total);
  ++total;
  failed += !mvface::norm_checks::check_refusals();
  std::printf("fused batch norm: %d of %d checks passed\n", total - failed, total);
  return failed == 0 ? 0 : 1;
}
