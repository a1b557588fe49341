#pragma once
// The per-row part of the fused CPU path: two sweeps over one row of cosines. Sweep 1 computes the
// row's log-sum-exp online, block by block; sweep 2 overwrites the row with dL/dc (times the column
// scale). These scalar templates serve float64 and the tails; row_kernel_simd.inc is the float32
// SIMD twin of the same element function.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "loss/margin.h"

namespace mvface::loss {

// e^x for the softmax's x <= 0; relative error about 2e-7 (float32 rounding).
inline float fast_exp(float x) {
  x = std::max(x, -87.0f);
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest
  const float f = (t - n) * 0.693147180559945309f;  // e^f with |f| <= ln2 / 2
  float p = 1.0f / 720;
  p = p * f + 1.0f / 120;
  p = p * f + 1.0f / 24;
  p = p * f + 1.0f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline double fast_exp(double x) { return std::exp(x); }

// One row's constants, so that an element is a few multiplies and selects.
template <typename T>
struct RowConstants {
  T scale;           // s, or ‖x_i‖ for sphereface, or 1 for softmax
  T lo, hi;          // clamp bounds: [-1, 1], or +-inf (softmax)
  T mu;              // MV comparison point; +inf when the head is not MV
  T hard_a, hard_b;  // a hard negative's value a c + b and slope a
  const T* col;      // column scale 1 / ‖W_k‖ (ones for softmax)
  int64_t y;
};

template <typename T>
struct Element {
  T z, dz, value;
  bool hard, live;
};

template <typename T>
inline Element<T> element(const RowConstants<T>& r, T raw, int64_t k) {
  Element<T> e;
  T c = raw * r.col[k];
  e.live = c > r.lo && c < r.hi;
  c = std::min(std::max(c, r.lo), r.hi);
  e.hard = c > r.mu && k != r.y;
  e.value = e.hard ? r.hard_a * c + r.hard_b : c;
  e.z = r.scale * e.value;
  e.dz = e.live ? r.scale * (e.hard ? r.hard_a : T(1)) : T(0);
  return e;
}

// log-sum-exp over the negatives k != y and the target logit z_target.
template <typename T>
double row_logsumexp(const RowConstants<T>& r, const T* row, int64_t C, double z_target) {
  constexpr int64_t kBlock = 1024;
  T block[kBlock];
  double run_max = z_target, run_sum = 1.0;
  for (int64_t b = 0; b < C; b += kBlock) {
    const int64_t n = std::min(kBlock, C - b);
    T bmax = std::numeric_limits<T>::lowest();
#pragma omp simd reduction(max : bmax)
    for (int64_t j = 0; j < n; ++j) {
      const T z = element(r, row[b + j], b + j).z;
      block[j] = b + j == r.y ? std::numeric_limits<T>::lowest() : z;
      bmax = std::max(bmax, block[j]);
    }
    if (bmax > run_max) {
      run_sum *= std::exp(run_max - bmax);
      run_max = bmax;
    }
    const T shift = static_cast<T>(run_max);
    T bsum = 0;
#pragma omp simd reduction(+ : bsum)
    for (int64_t j = 0; j < n; ++j) bsum += b + j == r.y ? T(0) : fast_exp(block[j] - shift);
    run_sum += bsum;
  }
  return run_max + std::log(run_sum);
}

struct RowGradient {
  int64_t hard = 0;
  double expected_value = 0;  // sum over negatives of p_k * value_k (sphereface's norm gradient)
};

// Overwrites row with w * p_k * dz_k * col_k for every negative (the target is written by the caller).
template <typename T>
RowGradient row_gradient(const RowConstants<T>& r, T* row, int64_t C, double lse, double w) {
  const T shift = static_cast<T>(lse), wt = static_cast<T>(w);
  int64_t hard = 0;
  T expected = 0;
#pragma omp simd reduction(+ : hard, expected)
  for (int64_t k = 0; k < C; ++k) {
    const Element<T> e = element(r, row[k], k);
    const T p = k == r.y ? T(0) : fast_exp(e.z - shift);
    hard += e.hard;
    expected += p * e.value;
    row[k] = wt * p * e.dz * r.col[k];
  }
  return {hard, static_cast<double>(expected)};
}

// float32 rows on the best SIMD the CPU has (AVX2+FMA or the x86-64 baseline), chosen at run time.
double row_logsumexp_simd(const RowConstants<float>& r, const float* row, int64_t C, double z_target);
RowGradient row_gradient_simd(const RowConstants<float>& r, float* row, int64_t C, double lse, double w);
const char* row_kernel_isa();

}  // namespace mvface::loss
