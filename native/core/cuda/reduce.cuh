#pragma once
// Warp and block reductions for the row kernels.
#include <math.h>

namespace mvface::cuda {

constexpr float kLog2e = 1.4426950408889634f;

// e^x for the softmax's x <= 0 (and -inf -> 0).
__device__ __forceinline__ float exp_f(float x) { return exp2f(x * kLog2e); }

// Two online log-sum-exp states (max, sum of e^(z - max)) as one. Maxima are finite: the empty
// state is (-FLT_MAX, 0), never -inf, so that merging two empty states gives no NaN.
__device__ __forceinline__ float2 merge_lse(float2 a, float2 b) {
  const float m = fmaxf(a.x, b.x);
  return make_float2(m, a.y * exp_f(a.x - m) + b.y * exp_f(b.x - m));
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float2 warp_merge_lse(float2 v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float2 other =
        make_float2(__shfl_xor_sync(0xffffffffu, v.x, offset), __shfl_xor_sync(0xffffffffu, v.y, offset));
    v = merge_lse(v, other);
  }
  return v;
}

struct WarpSum {
  template <typename T>
  __device__ __forceinline__ T operator()(T v) const {
    return warp_sum(v);
  }
};

struct WarpMergeLse {
  __device__ __forceinline__ float2 operator()(float2 v) const { return warp_merge_lse(v); }
};

// The block's total of v, combined by `warp` within warps and then across them; `identity`
// leaves a value unchanged. Valid in thread 0. Each T has its own shared array: two calls in a
// row with the same T need a __syncthreads() between them.
template <int kThreads, typename T, typename Warp>
__device__ __forceinline__ T block_reduce(T v, T identity, Warp warp) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "whole warps, at most 32");
  __shared__ T partial[kThreads / 32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp(v);
  if (lane == 0) partial[w] = v;
  __syncthreads();
  if (w == 0) v = warp(lane < kThreads / 32 ? partial[lane] : identity);
  return v;
}

}  // namespace mvface::cuda
