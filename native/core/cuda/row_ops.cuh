#pragma once
// Row norms and the normalisation backward (row_kernels.h), one warp per row of length D, device
// code only: row_ops.cu launches them, and emulation/ runs them on the CPU for tests.
#include "cuda/reduce.cuh"
#include "cuda/row_kernels.h"

namespace mvface::cuda::kernels {

constexpr int kWarpRowThreads = 256;
constexpr int kRowsPerBlock = kWarpRowThreads / 32;

__device__ __forceinline__ int64_t warp_row() {
  return (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
}

__global__ void __launch_bounds__(kWarpRowThreads) row_norms(const float* v, int64_t rows, int64_t D, float* norms) {
  const int64_t r = warp_row();
  if (r >= rows) return;  // r is the same across the warp
  const float* vr = v + r * D;
  float sq = 0.0f;
  for (int64_t d = threadIdx.x & 31; d < D; d += 32) sq += vr[d] * vr[d];
  sq = warp_sum(sq);
  if ((threadIdx.x & 31) == 0) norms[r] = sqrtf(sq);
}

__global__ void __launch_bounds__(kWarpRowThreads)
    normalize_backward(float* grad, const float* v, const float* inv, int64_t rows, int64_t D, bool scaled) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  float* gr = grad + r * D;
  const float* vr = v + r * D;
  float dot = 0.0f, sq = 0.0f;
  for (int64_t d = threadIdx.x & 31; d < D; d += 32) {
    dot += vr[d] * gr[d];
    sq += vr[d] * vr[d];
  }
  dot = warp_sum(dot);
  sq = warp_sum(sq);
  const double s = inv[r];
  const bool projected = sq > loss::kNormEps * loss::kNormEps;  // ‖v‖ > eps: v * s is a unit vector
  const float coef = static_cast<float>(projected ? dot * s * s : 0.0);
  const float out_scale = static_cast<float>(scaled ? s : 1.0);
  for (int64_t d = threadIdx.x & 31; d < D; d += 32) gr[d] = (gr[d] - coef * vr[d]) * out_scale;
}

}  // namespace mvface::cuda::kernels
