// The x86-64 baseline (SSE2) build of the float32 row sweeps, and the run-time choice between ISAs.
#define MVFACE_ISA baseline
#include "loss/row_kernel_simd.inc"

namespace mvface::loss {
#ifdef MVFACE_AVX2_KERNEL
namespace avx2 {
double row_logsumexp(const RowConstants<float>& r, const float* row, int64_t C, double z_target);
RowGradient row_gradient(const RowConstants<float>& r, float* row, int64_t C, double lse, double w);
}  // namespace avx2
#endif

namespace {
bool has_avx2() {
#ifdef MVFACE_AVX2_KERNEL
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}
}  // namespace

#ifndef MVFACE_AVX2_KERNEL
namespace avx2 = baseline;
#endif

double row_logsumexp_simd(const RowConstants<float>& r, const float* row, int64_t C, double z_target) {
  return has_avx2() ? avx2::row_logsumexp(r, row, C, z_target) : baseline::row_logsumexp(r, row, C, z_target);
}

RowGradient row_gradient_simd(const RowConstants<float>& r, float* row, int64_t C, double lse, double w) {
  return has_avx2() ? avx2::row_gradient(r, row, C, lse, w) : baseline::row_gradient(r, row, C, lse, w);
}

const char* row_kernel_isa() { return has_avx2() ? "avx2+fma" : "sse2"; }

}  // namespace mvface::loss
