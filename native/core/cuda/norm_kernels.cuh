#pragma once
// The kernels of the fused batch norm (norm_kernels.h), device code only, and the order in which
// they run: norm_kernels.cu launches them, and emulation/ runs them on the CPU for tests.
// Index arithmetic is 32-bit: the host refuses tensors of 2^31 elements or more.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda/norm_kernels.h"
#include "cuda/vector_cast.cuh"

namespace mvface::cuda::kernels {

struct Bf16 {
  uint16_t bits;
};

__device__ __forceinline__ float float_from_bits(uint32_t b) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(b);
#else
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
#endif
}

__device__ __forceinline__ uint32_t bits_of(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
#endif
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(Bf16 v) { return float_from_bits(uint32_t{v.bits} << 16); }
__device__ __forceinline__ void from_float(float v, float& out) { out = v; }
// Round to nearest even, as c10::BFloat16; NaN stays NaN.
__device__ __forceinline__ void from_float(float v, Bf16& out) {
  const uint32_t b = bits_of(v);
  out.bits = v != v ? uint16_t{0x7fc0} : static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// V consecutive elements, loaded and stored as one access of V x sizeof(T) bytes.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void load(const T* p, uint32_t i, float (&out)[V]) {
  const Pack<T, V> pack = *vector_cast<Pack<T, V>>(p + i);
#pragma unroll
  for (int j = 0; j < V; ++j) out[j] = to_float(pack.v[j]);
}

template <typename T, int V>
__device__ __forceinline__ void store(T* p, uint32_t i, const float (&in)[V]) {
  Pack<T, V> pack;
#pragma unroll
  for (int j = 0; j < V; ++j) from_float(in[j], pack.v[j]);
  *vector_cast<Pack<T, V>>(p + i) = pack;
}

// Where thread `threadIdx.x` of a reduction block works: from channel c (vec channels in rows,
// one in NCHW), positions p0 + lane P, then `lanes` P further each time, below p1 (P positions per
// load). Block b covers channel tile b % tiles and the (b / tiles)-th split of the positions; its
// results go to index split * C + c of each part.
struct Slice {
  uint32_t c, lane, lanes, p0, p1, split;
  bool live;  // c < C
};

__device__ __forceinline__ Slice slice(const NormShape& s) {
  const uint32_t tiles = (s.C + s.tile - 1) / s.tile, tile = blockIdx.x % tiles, v = norm::load_positions(s);
  Slice r;
  r.split = blockIdx.x / tiles;
  r.lanes = kNormThreads / s.row_threads;
  r.lane = threadIdx.x / s.row_threads;
  r.c = tile * s.tile + threadIdx.x % s.row_threads * (s.tile / s.row_threads);
  r.live = r.c < s.C;
  r.p0 = static_cast<uint32_t>(uint64_t{s.positions} * r.split / s.splits / v * v);
  r.p1 = static_cast<uint32_t>(uint64_t{s.positions} * (r.split + 1) / s.splits / v * v);
  return r;
}

// A reduction thread's walk over one channel's positions p = o * inner + k.
struct Walk {
  uint32_t p, o, k;
};

__device__ __forceinline__ Walk walk_from(const NormShape& s, uint32_t p) { return {p, p / s.inner, p % s.inner}; }

__device__ __forceinline__ void advance(Walk& w, const NormShape& s, uint32_t positions) {
  w.p += positions;
  w.o += s.step_o;
  w.k += s.step_ko;
  if (w.k >= s.inner) w.k -= s.inner, ++w.o;
}

__device__ __forceinline__ uint32_t address(const NormShape& s, const Walk& w, uint32_t c) {
  return (w.o * s.C + c) * s.inner + w.k;
}

// An element-wise thread's element i, its channel c and its offset k in the inner dimension.
struct Cursor {
  uint32_t i, c, k;
};

__device__ __forceinline__ Cursor cursor_from(const NormShape& s, uint32_t i) {
  return {i, i / s.inner % s.C, i % s.inner};
}

__device__ __forceinline__ void advance(Cursor& u, const NormShape& s) {
  u.i += s.step;
  u.k += s.step_k;
  u.c += s.step_c;
  if (u.k >= s.inner) u.k -= s.inner, ++u.c;
  if (u.c >= s.C) u.c -= s.C;
}

// The channel of element j of a load at cursor u: consecutive channels in channels-last.
__device__ __forceinline__ uint32_t channel(const NormShape& s, const Cursor& u, int j) {
  return s.inner == 1 ? u.c + j : u.c;
}

// A reduction block's three results for its split and channel c: result j of split k of channel c
// is parts[(j * splits + k) * C + c].
__device__ __forceinline__ void write_parts(const NormArgs& a, const Slice& r, uint32_t c, float r0, float r1,
                                            float r2) {
  if (r.lane != 0 || !r.live) return;
  const uint32_t at = r.split * a.shape.C + c, part = a.shape.splits * a.shape.C;
  a.parts[at] = r0;
  a.parts[part + at] = r1;
  a.parts[2 * part + at] = r2;
}

__device__ __forceinline__ double read_part(const NormArgs& a, int j, int split, uint32_t c) {
  return a.parts[(j * a.shape.splits + split) * a.shape.C + c];
}

struct Welford {
  float n, mean, m2;
};

__device__ __forceinline__ Welford merge(Welford a, Welford b) {
  const float n = a.n + b.n;
  if (n == 0.0f) return a;
  const float d = b.mean - a.mean, wb = b.n / n;
  return {n, a.mean + d * wb, a.m2 + b.m2 + d * d * a.n * wb};
}

// Merges a value over the lanes of a reduction block (a tree in shared memory; lanes are
// row_threads apart); each thread of lane 0 gets the total of its channel. After the last barrier
// a thread reads only its own slot, so calls may follow one another.
template <typename Merge, typename V>
__device__ __forceinline__ V lanes_reduce(V v, const Slice& r, int row_threads, Merge merge_fn) {
  __shared__ V shared[kNormThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (uint32_t stride = r.lanes / 2; stride > 0; stride /= 2) {
    if (r.lane < stride)
      shared[threadIdx.x] = merge_fn(shared[threadIdx.x], shared[threadIdx.x + stride * row_threads]);
    __syncthreads();
  }
  return shared[threadIdx.x];
}

// Sums of v - K and (v - K)^2 about the thread's first value K (no division per value), turned
// into a Welford state at the end.
struct ShiftedSums {
  float n = 0.0f, shift = 0.0f, sum = 0.0f, squares = 0.0f;
  __device__ __forceinline__ void add(float v) {
    if (n == 0.0f) shift = v;
    const float d = v - shift;
    n += 1.0f;
    sum += d;
    squares += d * d;
  }
  __device__ __forceinline__ Welford state() const {
    if (n == 0.0f) return {0.0f, 0.0f, 0.0f};
    return {n, shift + sum / n, fmaxf(squares - sum * sum / n, 0.0f)};
  }
};

// A reduction thread's states: one per channel it loads (V in rows, 1 in NCHW), and the positions
// one load spans (1 in rows, V in NCHW).
template <int V, bool Rows>
struct LoadShape {
  static constexpr int channels = Rows ? V : 1, positions = Rows ? 1 : V;
  __device__ static constexpr int channel(int j) { return Rows ? j : 0; }
};

template <typename T, int V, bool Rows>
__global__ void __launch_bounds__(kNormThreads) stats_parts(NormArgs a) {
  using L = LoadShape<V, Rows>;
  const NormShape& s = a.shape;
  const Slice r = slice(s);
  const T* x = static_cast<const T*>(a.x);
  ShiftedSums sums[L::channels];
  if (r.live) {
    for (Walk w = walk_from(s, r.p0 + r.lane * L::positions); w.p < r.p1; advance(w, s, r.lanes * L::positions)) {
      float v[V];
      load<T, V>(x, address(s, w, r.c), v);
#pragma unroll
      for (int j = 0; j < V; ++j) sums[L::channel(j)].add(v[j]);
    }
  }
#pragma unroll
  for (int k = 0; k < L::channels; ++k) {
    const Welford total = lanes_reduce(sums[k].state(), r, s.row_threads, merge);
    write_parts(a, r, r.c + k, total.n, total.mean, total.m2);
  }
}

// One thread per channel: the splits' states merged (double), the batch statistics, the running
// ones, and the forward's scale.
__global__ void __launch_bounds__(kNormThreads) stats_finish(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t c = blockIdx.x * kNormThreads + threadIdx.x;
  if (c >= s.C) return;
  double n = 0.0, mean = 0.0, m2 = 0.0;
  for (int k = 0; k < s.splits; ++k) {
    const double nb = read_part(a, 0, k, c), mb = read_part(a, 1, k, c), m2b = read_part(a, 2, k, c);
    if (nb == 0.0) continue;
    const double total = n + nb, d = mb - mean;
    mean += d * nb / total;
    m2 += m2b + d * d * n * nb / total;
    n = total;
  }
  norm::store_statistics(a, c, mean, m2 / n, n);
  a.coef[c] = a.weight[c] * a.invstd[c];
}

template <typename T, int V>
__global__ void __launch_bounds__(kNormThreads) apply_forward(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t total = s.positions * s.C;
  const T* x = static_cast<const T*>(a.x);
  const T* residual = static_cast<const T*>(a.residual);
  T* out = static_cast<T*>(a.out);
  for (Cursor u = cursor_from(s, (blockIdx.x * kNormThreads + threadIdx.x) * V); u.i < total; advance(u, s)) {
    float y[V], r[V];
    load<T, V>(x, u.i, y);
    if (residual) load<T, V>(residual, u.i, r);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const uint32_t c = channel(s, u, j);
      y[j] = (y[j] - a.mean[c]) * a.coef[c] + a.bias[c];
      if (a.alpha && !(y[j] > 0.0f)) y[j] *= a.alpha[c * a.alpha_stride];
      if (residual) y[j] += r[j];
    }
    store<T, V>(out, u.i, y);
  }
}

// Channel c's PReLU slope; 1 without a PReLU (y x 1 and g x 1 are exact).
__device__ __forceinline__ float slope_of(const NormArgs& a, uint32_t c) {
  return a.alpha ? a.alpha[c * a.alpha_stride] : 1.0f;
}

// dy = dL/d bn(x), from the output's gradient g and y = bn(x) recomputed (before the residual).
__device__ __forceinline__ float through_prelu(float y, float g, float slope) { return y > 0.0f ? g : g * slope; }

struct Sums {
  float dy, dy_centred, slope;
};

__device__ __forceinline__ Sums add_sums(Sums a, Sums b) {
  return {a.dy + b.dy, a.dy_centred + b.dy_centred, a.slope + b.slope};
}

// Sums of dy, dy (x - mean) and the slope's gradient g y (y <= 0), the channels' coefficients held
// in registers; dy (x - mean) is scaled by 1/std once per channel, at the end.
template <typename T, int V, bool Rows>
__global__ void __launch_bounds__(kNormThreads) backward_parts(NormArgs a) {
  using L = LoadShape<V, Rows>;
  const NormShape& s = a.shape;
  const Slice r = slice(s);
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  Sums sums[L::channels] = {};
  if (r.live) {
    float mean[L::channels], scale[L::channels], bias[L::channels], slope[L::channels];
#pragma unroll
    for (int k = 0; k < L::channels; ++k) {
      const uint32_t c = r.c + k;
      mean[k] = a.mean[c], scale[k] = a.weight[c] * a.invstd[c], bias[k] = a.bias[c], slope[k] = slope_of(a, c);
    }
    for (Walk w = walk_from(s, r.p0 + r.lane * L::positions); w.p < r.p1; advance(w, s, r.lanes * L::positions)) {
      const uint32_t i = address(s, w, r.c);
      float v[V], gv[V];
      load<T, V>(x, i, v);
      load<T, V>(g, i, gv);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const int k = L::channel(j);
        const float centred = v[j] - mean[k], y = centred * scale[k] + bias[k];
        const float dy = through_prelu(y, gv[j], slope[k]);
        sums[k].dy += dy;
        sums[k].dy_centred += dy * centred;
        sums[k].slope += y > 0.0f ? 0.0f : gv[j] * y;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < L::channels; ++k) {
    const Sums total = lanes_reduce(sums[k], r, s.row_threads, add_sums);
    if (r.live) write_parts(a, r, r.c + k, total.dy, total.dy_centred * a.invstd[r.c + k], total.slope);
  }
}

// One thread per channel: the parameters' gradients, and the coefficients of grad x.
__global__ void __launch_bounds__(kNormThreads) backward_finish(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t c = blockIdx.x * kNormThreads + threadIdx.x;
  if (c >= s.C) return;
  double dy = 0.0, dy_xhat = 0.0, slope = 0.0;
  for (int k = 0; k < s.splits; ++k) {
    dy += read_part(a, 0, k, c);
    dy_xhat += read_part(a, 1, k, c);
    slope += read_part(a, 2, k, c);
  }
  a.grad_weight[c] = static_cast<float>(dy_xhat);
  a.grad_bias[c] = static_cast<float>(dy);
  if (a.alpha) a.grad_alpha[c] = static_cast<float>(slope);
  const float scale = a.weight[c] * a.invstd[c];
  a.coef[c] = scale;
  a.coef[s.C + c] = static_cast<float>(dy / static_cast<double>(s.positions));
  a.coef[2 * s.C + c] = static_cast<float>(dy_xhat / static_cast<double>(s.positions));
}

// grad x = scale (dy - mean(dy) - x̂ mean(dy x̂)).
template <typename T, int V>
__global__ void __launch_bounds__(kNormThreads) apply_backward(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t total = s.positions * s.C;
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  T* grad_x = static_cast<T*>(a.grad_x);
  for (Cursor u = cursor_from(s, (blockIdx.x * kNormThreads + threadIdx.x) * V); u.i < total; advance(u, s)) {
    float v[V], gv[V], out[V];
    load<T, V>(x, u.i, v);
    load<T, V>(g, u.i, gv);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const uint32_t c = channel(s, u, j);
      const float scale = a.coef[c], centred = v[j] - a.mean[c];
      const float dy = through_prelu(centred * scale + a.bias[c], gv[j], slope_of(a, c));
      out[j] = scale * (dy - a.coef[s.C + c] - centred * a.invstd[c] * a.coef[2 * s.C + c]);
    }
    store<T, V>(grad_x, u.i, out);
  }
}

inline unsigned reduce_blocks(const NormShape& s) {
  return static_cast<unsigned>((s.C + s.tile - 1) / s.tile * s.splits);
}
inline unsigned channel_blocks(const NormShape& s) {
  return static_cast<unsigned>((s.C + kNormThreads - 1) / kNormThreads);
}

// The passes in order; launch(kernel, blocks, args) runs kernel<<<blocks, kNormThreads>>>(args).
// V: the load width of every pass.
template <typename T, int V, typename Launch>
void forward_passes(const NormArgs& a, Launch&& launch) {
  launch(a.shape.rows ? stats_parts<T, V, true> : stats_parts<T, V, false>, reduce_blocks(a.shape), a);
  launch(stats_finish, channel_blocks(a.shape), a);
  launch(apply_forward<T, V>, static_cast<unsigned>(a.shape.apply_blocks), a);
}

template <typename T, int V, typename Launch>
void backward_passes(const NormArgs& a, Launch&& launch) {
  launch(a.shape.rows ? backward_parts<T, V, true> : backward_parts<T, V, false>, reduce_blocks(a.shape), a);
  launch(backward_finish, channel_blocks(a.shape), a);
  launch(apply_backward<T, V>, static_cast<unsigned>(a.shape.apply_blocks), a);
}

// Calls passes.template run<T, V>() for the args' element type and load width.
template <typename Passes>
void dispatch(const NormArgs& a, const Passes& passes) {
  const int v = a.shape.vec;
  if (a.dtype == NormDtype::kBFloat16) {
    if (v == 8)
      passes.template run<Bf16, 8>();
    else if (v == 4)
      passes.template run<Bf16, 4>();
    else if (v == 2)
      passes.template run<Bf16, 2>();
    else
      passes.template run<Bf16, 1>();
  } else {
    if (v == 4)
      passes.template run<float, 4>();
    else if (v == 2)
      passes.template run<float, 2>();
    else
      passes.template run<float, 1>();
  }
}

// The forward's or the backward's passes, for dispatch().
template <bool Forward, typename Launch>
struct Passes {
  const NormArgs& a;
  Launch& launch;
  template <typename T, int V>
  void run() const {
    if constexpr (Forward)
      forward_passes<T, V>(a, launch);
    else
      backward_passes<T, V>(a, launch);
  }
};

template <typename Launch>
void norm_forward(const NormArgs& a, Launch launch) {
  dispatch(a, Passes<true, Launch>{a, launch});
}

template <typename Launch>
void norm_backward(const NormArgs& a, Launch launch) {
  dispatch(a, Passes<false, Launch>{a, launch});
}

}  // namespace mvface::cuda::kernels
