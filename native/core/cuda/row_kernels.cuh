#pragma once
// The kernels of the row pass (row_kernels.h), device code only: row_kernels.cu launches them, and
// emulation/ runs them on the CPU for tests.
#include <cfloat>

#include "cuda/element.cuh"
#include "cuda/reduce.cuh"
#include "cuda/row_kernels.h"
#include "cuda/vector_cast.cuh"

namespace mvface::cuda::kernels {

constexpr int kThreads = kRowPassThreads;  // per block of the element sweeps
constexpr int kRowThreads = 128;           // per block of the one-thread-per-row kernels

// Where block `blockIdx.x` works: row i, classes [begin, end). Its partial results go to index
// blockIdx.x = i * segments + s of the *_parts arrays.
struct Piece {
  int64_t i, begin, end;
};

__device__ __forceinline__ Piece piece(const RowPassArgs& a) {
  const int64_t i = blockIdx.x / a.plan.segments;
  const int64_t begin = (blockIdx.x % a.plan.segments) * a.plan.segment_len;
  const int64_t end = begin + a.plan.segment_len;
  return {i, begin, end < a.C ? end : a.C};
}

// Four consecutive classes k0 .. k0 + 3 of one row; those at or past `end` read as 0.
struct Quad {
  float v[4], col[4];
};

template <bool kVec>
__device__ __forceinline__ Quad load_quad(const float* row, const float* col, int64_t k0, int64_t end) {
  Quad q;
  if constexpr (kVec) {
    const float4 v = *vector_cast<float4>(row + k0);
    const float4 c = __ldg(vector_cast<float4>(col + k0));
    q = {{v.x, v.y, v.z, v.w}, {c.x, c.y, c.z, c.w}};
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const bool in = k0 + j < end;
      q.v[j] = in ? row[k0 + j] : 0.0f;
      q.col[j] = in ? __ldg(col + k0 + j) : 0.0f;
    }
  }
  return q;
}

template <bool kVec>
__device__ __forceinline__ void store_quad(float* row, int64_t k0, int64_t end, const float (&out)[4]) {
  if constexpr (kVec) {
    *vector_cast<float4>(row + k0) = make_float4(out[0], out[1], out[2], out[3]);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (k0 + j < end) row[k0 + j] = out[j];
  }
}

// Per row: the target cosine (from target_raw, or read from the buffer before the gradient pass
// overwrites it) and its margin; the running log-sum-exp starts at the target's term.
__global__ void prepare_rows(RowPassArgs a) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= a.B) return;
  const loss::HeadParams& p = a.head;
  const int64_t y = a.labels[i];
  const double lo = p.normalized ? -1.0 : -INFINITY, hi = p.normalized ? 1.0 : INFINITY;
  const float dot = a.target_raw ? a.target_raw[i] : a.buffer[i * a.C + y];
  const double raw = static_cast<float>(dot * a.col[y]);
  RowInfo r{};
  r.g_live = raw > lo && raw < hi;
  r.g = p.normalized ? (raw < -1.0 ? -1.0 : (1.0 < raw ? 1.0 : raw)) : raw;  // std::clamp
  const loss::TargetMargin tg = loss::target_margin(p, r.g);
  r.mu = tg.mu;
  r.tau = tg.tau;
  r.dtau = tg.dtau;
  r.scale = p.type == loss::HeadType::SphereFace ? static_cast<double>(a.row_norm[i]) : (p.normalized ? p.scale : 1.0);
  r.z_target = r.scale * r.tau;
  r.run_max = r.z_target;
  r.run_sum = 1.0;
  a.rows[i] = r;
}

// The row's label as a class of the buffer: outside [0, C) when the target is in another chunk.
__device__ __forceinline__ int64_t local_label(const RowPassArgs& a, int64_t i) { return a.labels[i] - a.class_offset; }

// Per piece: (max, sum e^(z - max)) over its negatives, the running max starting at the target.
template <bool kVec>
__global__ void __launch_bounds__(kThreads) lse_parts(RowPassArgs a) {
  const Piece part = piece(a);
  const RowInfo info = a.rows[part.i];
  const RowConstants k = row_constants(a.head, info, local_label(a, part.i));
  const float* row = a.buffer + part.i * a.C;
  float2 state = make_float2(static_cast<float>(info.z_target), 0.0f);
#pragma unroll 2
  for (int64_t k0 = part.begin + 4 * threadIdx.x; k0 < part.end; k0 += 4 * kThreads) {
    const Quad q = load_quad<kVec>(row, a.col, k0, part.end);
    float z[4], top = -INFINITY;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t c = k0 + j;
      const Element e = element(k, q.v[j], q.col[j], c == k.y);
      z[j] = c < part.end && c != k.y ? e.z : -INFINITY;
      top = fmaxf(top, z[j]);
    }
    if (top > state.x) {
      state.y *= exp_f(state.x - top);
      state.x = top;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) state.y += exp_f(z[j] - state.x);
  }
  state = block_reduce<kThreads>(state, make_float2(-FLT_MAX, 0.0f), WarpMergeLse{});
  if (threadIdx.x == 0) a.lse_parts[blockIdx.x] = state;
}

// Per row: the chunk's pieces merged in double into the running (max, sum); after the last chunk
// (kFinish), lse, CE and p_target.
template <bool kFinish>
__global__ void merge_rows(RowPassArgs a) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= a.B) return;
  RowInfo r = a.rows[i];
  double run_max = r.run_max, run_sum = r.run_sum;
  for (int s = 0; s < a.plan.segments; ++s) {
    const float2 part = a.lse_parts[i * a.plan.segments + s];
    const double top = fmax(run_max, static_cast<double>(part.x));
    run_sum = run_sum * exp(run_max - top) + part.y * exp(part.x - top);
    run_max = top;
  }
  r.run_max = run_max;
  r.run_sum = run_sum;
  if (kFinish) {
    r.lse = run_max + log(run_sum);
    r.ce = r.lse - r.z_target;
    r.p_target = exp(r.z_target - r.lse);
  }
  a.rows[i] = r;
}

__device__ __forceinline__ double row_weight(const RowPassArgs& a, int64_t i) {
  return a.weights ? a.weights[i] : 1.0 / static_cast<double>(a.B);
}

// Per piece: w p_k dz_k col_k over each class (the target's own formula at y), in place; the
// piece's hard count and sum of p_k value_k.
template <bool kVec>
__global__ void __launch_bounds__(kThreads) gradient_parts(RowPassArgs a) {
  const Piece part = piece(a);
  const RowInfo info = a.rows[part.i];
  const RowConstants k = row_constants(a.head, info, local_label(a, part.i));
  const double weight = row_weight(a, part.i);
  const float wt = static_cast<float>(weight), shift = static_cast<float>(info.lse);
  const double dz_target = info.g_live ? info.scale * info.dtau : 0.0;
  const bool has_target = k.y >= 0 && k.y < a.C;  // the target is in this chunk
  const float target_grad =
      has_target ? static_cast<float>(weight * (info.p_target - 1.0) * dz_target * a.col[k.y]) : 0.0f;
  float* row = a.buffer + part.i * a.C;
  int hard = 0;
  float expected = 0.0f;
#pragma unroll 2
  for (int64_t k0 = part.begin + 4 * threadIdx.x; k0 < part.end; k0 += 4 * kThreads) {
    const Quad q = load_quad<kVec>(row, a.col, k0, part.end);
    float out[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t c = k0 + j;
      const bool target = c == k.y, in = c < part.end;
      const Element e = element(k, q.v[j], q.col[j], target);
      const float p = target ? 0.0f : exp_f(e.z - shift);
      hard += in && e.hard;
      expected += in ? p * e.value : 0.0f;
      out[j] = target ? target_grad : wt * p * e.dz * q.col[j];
    }
    store_quad<kVec>(row, k0, part.end, out);
  }
  hard = block_reduce<kThreads>(hard, 0, WarpSum{});
  expected = block_reduce<kThreads>(expected, 0.0f, WarpSum{});
  if (threadIdx.x == 0) {
    a.hard_parts[blockIdx.x] = hard;
    a.expected_parts[blockIdx.x] = expected;
  }
}

// Per row: the chunk's hard counts and sums of p_k value_k accumulated; after the last chunk
// (kFinish), sphereface's dL/d‖x_i‖ = w (E_p[value] + p_y tau - tau).
template <bool kFinish>
__global__ void accumulate_gradient(RowPassArgs a) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= a.B) return;
  RowInfo r = a.rows[i];
  long long hard = 0;
  double expected = 0.0;
  for (int s = 0; s < a.plan.segments; ++s) {
    hard += a.hard_parts[i * a.plan.segments + s];
    expected += a.expected_parts[i * a.plan.segments + s];
  }
  r.hard += hard;
  r.expected += expected;
  if (kFinish) {
    r.norm_grad = row_weight(a, i) * (r.expected + r.p_target * r.tau - r.tau);
    if (a.norm_grad) a.norm_grad[i] = static_cast<float>(r.norm_grad);
  }
  a.rows[i] = r;
}

}  // namespace mvface::cuda::kernels
