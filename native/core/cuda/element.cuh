#pragma once
// Device twins of RowConstants and element() in loss/row_kernel.h, float32: the same selects in the
// same order, so that CPU and GPU flag the same negatives and clamp the same way.
#include <math.h>

#include "cuda/row_kernels.h"

namespace mvface::cuda {

struct RowConstants {
  float scale;           // s, ‖x_i‖ (sphereface) or 1 (softmax)
  float lo, hi;          // clamp bounds: [-1, 1], or +-inf (softmax)
  float mu;              // MV comparison point; +inf when the head is not MV
  float hard_a, hard_b;  // a hard negative's value a c + b and slope a
  int64_t y;
};

__device__ __forceinline__ RowConstants row_constants(const loss::HeadParams& p, const RowInfo& r, int64_t y) {
  RowConstants k;
  k.scale = static_cast<float>(r.scale);
  k.lo = p.normalized ? -1.0f : -INFINITY;
  k.hi = p.normalized ? 1.0f : INFINITY;
  k.mu = p.mv ? static_cast<float>(r.mu) : INFINITY;
  k.hard_a = static_cast<float>(p.adaptive ? p.t : 1.0);
  k.hard_b = static_cast<float>(p.adaptive ? p.t - 1.0 : p.t);
  k.y = y;
  return k;
}

struct Element {
  float z, dz, value;
  bool hard;
};

__device__ __forceinline__ Element element(const RowConstants& r, float raw, float col, bool target) {
  Element e;
  float c = raw * col;
  const bool live = c > r.lo && c < r.hi;
  c = c < r.lo ? r.lo : c;  // std::min(std::max(c, lo), hi)
  c = r.hi < c ? r.hi : c;
  e.hard = c > r.mu && !target;
  e.value = e.hard ? r.hard_a * c + r.hard_b : c;
  e.z = r.scale * e.value;
  e.dz = live ? r.scale * (e.hard ? r.hard_a : 1.0f) : 0.0f;
  return e;
}

}  // namespace mvface::cuda
