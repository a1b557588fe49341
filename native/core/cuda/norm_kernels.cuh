#pragma once
// The kernels of the fused batch norm (norm_kernels.h), device code only, and the order in which
// they run: norm_kernels.cu launches them, and emulation/ runs them on the CPU for tests.
// Index arithmetic is 32-bit: the host refuses tensors of 2^31 elements or more.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda/norm_kernels.h"

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

__device__ __forceinline__ float load(const float* p, uint32_t i) { return p[i]; }
__device__ __forceinline__ float load(const Bf16* p, uint32_t i) { return float_from_bits(uint32_t{p[i].bits} << 16); }
__device__ __forceinline__ void store(float* p, uint32_t i, float v) { p[i] = v; }
// Round to nearest even, as c10::BFloat16; NaN stays NaN.
__device__ __forceinline__ void store(Bf16* p, uint32_t i, float v) {
  const uint32_t b = bits_of(v);
  p[i].bits = v != v ? uint16_t{0x7fc0} : static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// Where thread `threadIdx.x` of a reduction block works: channel c, positions p0 + lane, p0 + lane
// + lanes, ... below p1. Block b covers channel tile b % tiles and the (b / tiles)-th split of the
// positions; its results go to index split * C + c of each part.
struct Slice {
  uint32_t c, lane, lanes, p0, p1, split;
  bool live;  // c < C
};

__device__ __forceinline__ Slice slice(const NormShape& s) {
  const uint32_t tiles = (s.C + s.tile - 1) / s.tile, tile = blockIdx.x % tiles;
  Slice r;
  r.split = blockIdx.x / tiles;
  r.lanes = kNormThreads / s.tile;
  r.lane = threadIdx.x / s.tile;
  r.c = tile * s.tile + threadIdx.x % s.tile;
  r.live = r.c < s.C;
  r.p0 = static_cast<uint32_t>(uint64_t{static_cast<uint64_t>(s.positions)} * r.split / s.splits);
  r.p1 = static_cast<uint32_t>(uint64_t{static_cast<uint64_t>(s.positions)} * (r.split + 1) / s.splits);
  return r;
}

__device__ __forceinline__ uint32_t address(const NormShape& s, uint32_t p, uint32_t c) {
  const uint32_t inner = static_cast<uint32_t>(s.inner), o = p / inner;
  return (o * static_cast<uint32_t>(s.C) + c) * inner + (p - o * inner);
}

__device__ __forceinline__ uint32_t channel_of(const NormShape& s, uint32_t i) {
  return (i / static_cast<uint32_t>(s.inner)) % static_cast<uint32_t>(s.C);
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

// Sums three values over the lanes of each channel of a reduction block (a tree in shared memory);
// thread `lane 0` of each channel gets the total.
template <typename Merge, typename V>
__device__ __forceinline__ V lanes_reduce(V v, const Slice& r, int tile, Merge merge_fn) {
  __shared__ V shared[kNormThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (uint32_t stride = r.lanes / 2; stride > 0; stride /= 2) {
    if (r.lane < stride) shared[threadIdx.x] = merge_fn(shared[threadIdx.x], shared[threadIdx.x + stride * tile]);
    __syncthreads();
  }
  return shared[threadIdx.x];
}

template <typename T>
__global__ void __launch_bounds__(kNormThreads) stats_parts(NormArgs a) {
  const NormShape& s = a.shape;
  const Slice r = slice(s);
  const T* x = static_cast<const T*>(a.x);
  Welford w{0.0f, 0.0f, 0.0f};
  if (r.live) {
    for (uint32_t p = r.p0 + r.lane; p < r.p1; p += r.lanes) {
      const float v = load(x, address(s, p, r.c));
      w.n += 1.0f;
      const float d = v - w.mean;
      w.mean += d / w.n;
      w.m2 += d * (v - w.mean);
    }
  }
  w = lanes_reduce(w, r, s.tile, merge);
  if (r.lane == 0 && r.live) {
    const uint32_t at = r.split * s.C + r.c, part = s.splits * s.C;
    a.parts[at] = w.n;
    a.parts[part + at] = w.mean;
    a.parts[2 * part + at] = w.m2;
  }
}

// One thread per channel: the splits' states merged (double), the batch statistics, the running
// ones, and the forward's scale and shift.
__global__ void __launch_bounds__(kNormThreads) stats_finish(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t c = blockIdx.x * kNormThreads + threadIdx.x;
  if (c >= s.C) return;
  const uint32_t part = s.splits * s.C;
  double n = 0.0, mean = 0.0, m2 = 0.0;
  for (int k = 0; k < s.splits; ++k) {
    const double nb = a.parts[k * s.C + c], mb = a.parts[part + k * s.C + c], m2b = a.parts[2 * part + k * s.C + c];
    if (nb == 0.0) continue;
    const double total = n + nb, d = mb - mean;
    mean += d * nb / total;
    m2 += m2b + d * d * n * nb / total;
    n = total;
  }
  const double var = m2 / n;
  const float invstd = 1.0f / sqrtf(static_cast<float>(var) + a.eps);
  a.mean[c] = static_cast<float>(mean);
  a.invstd[c] = invstd;
  if (a.running_mean) {
    const float m = a.momentum;
    a.running_mean[c] = (1.0f - m) * a.running_mean[c] + m * static_cast<float>(mean);
    a.running_var[c] = (1.0f - m) * a.running_var[c] + m * static_cast<float>(var * n / (n - 1.0));
  }
  const float scale = a.weight[c] * invstd;
  a.coef[c] = scale;
  a.coef[s.C + c] = a.bias[c] - static_cast<float>(mean) * scale;
}

template <typename T>
__global__ void __launch_bounds__(kNormThreads) apply_forward(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t total = static_cast<uint32_t>(s.positions * s.C), step = gridDim.x * kNormThreads;
  const T* x = static_cast<const T*>(a.x);
  const T* residual = static_cast<const T*>(a.residual);
  T* out = static_cast<T*>(a.out);
  for (uint32_t i = blockIdx.x * kNormThreads + threadIdx.x; i < total; i += step) {
    const uint32_t c = channel_of(s, i);
    float y = load(x, i) * a.coef[c] + a.coef[s.C + c];
    if (a.alpha && !(y > 0.0f)) y *= a.alpha[c * a.alpha_stride];
    if (residual) y += load(residual, i);
    store(out, i, y);
  }
}

// dy = dL/d bn(x), from the output's gradient g and y = bn(x) recomputed (before the residual).
struct Backward {
  float dy, slope_grad;
};

__device__ __forceinline__ Backward through_prelu(const NormArgs& a, uint32_t c, float y, float g) {
  if (!a.alpha || y > 0.0f) return {g, 0.0f};
  return {g * a.alpha[c * a.alpha_stride], g * y};
}

struct Sums {
  float dy, dy_xhat, slope;
};

__device__ __forceinline__ Sums add_sums(Sums a, Sums b) { return {a.dy + b.dy, a.dy_xhat + b.dy_xhat, a.slope + b.slope}; }

template <typename T>
__global__ void __launch_bounds__(kNormThreads) backward_parts(NormArgs a) {
  const NormShape& s = a.shape;
  const Slice r = slice(s);
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  Sums sums{0.0f, 0.0f, 0.0f};
  if (r.live) {
    const float mean = a.mean[r.c], invstd = a.invstd[r.c], scale = a.weight[r.c] * invstd;
    const float shift = a.bias[r.c] - mean * scale;
    for (uint32_t p = r.p0 + r.lane; p < r.p1; p += r.lanes) {
      const uint32_t i = address(s, p, r.c);
      const float v = load(x, i);
      const Backward b = through_prelu(a, r.c, v * scale + shift, load(g, i));
      sums.dy += b.dy;
      sums.dy_xhat += b.dy * (v - mean) * invstd;
      sums.slope += b.slope_grad;
    }
  }
  sums = lanes_reduce(sums, r, s.tile, add_sums);
  if (r.lane == 0 && r.live) {
    const uint32_t at = r.split * s.C + r.c, part = s.splits * s.C;
    a.parts[at] = sums.dy;
    a.parts[part + at] = sums.dy_xhat;
    a.parts[2 * part + at] = sums.slope;
  }
}

// One thread per channel: the parameters' gradients, and the coefficients of grad x.
__global__ void __launch_bounds__(kNormThreads) backward_finish(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t c = blockIdx.x * kNormThreads + threadIdx.x;
  if (c >= s.C) return;
  const uint32_t part = s.splits * s.C;
  double dy = 0.0, dy_xhat = 0.0, slope = 0.0;
  for (int k = 0; k < s.splits; ++k) {
    dy += a.parts[k * s.C + c];
    dy_xhat += a.parts[part + k * s.C + c];
    slope += a.parts[2 * part + k * s.C + c];
  }
  a.grad_weight[c] = static_cast<float>(dy_xhat);
  a.grad_bias[c] = static_cast<float>(dy);
  if (a.alpha) a.grad_alpha[c] = static_cast<float>(slope);
  const float scale = a.weight[c] * a.invstd[c];
  a.coef[c] = scale;
  a.coef[s.C + c] = a.bias[c] - a.mean[c] * scale;
  a.coef[2 * s.C + c] = static_cast<float>(dy / static_cast<double>(s.positions));
  a.coef[3 * s.C + c] = static_cast<float>(dy_xhat / static_cast<double>(s.positions));
}

// grad x = scale (dy - mean(dy) - x̂ mean(dy x̂)).
template <typename T>
__global__ void __launch_bounds__(kNormThreads) apply_backward(NormArgs a) {
  const NormShape& s = a.shape;
  const uint32_t total = static_cast<uint32_t>(s.positions * s.C), step = gridDim.x * kNormThreads;
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  T* grad_x = static_cast<T*>(a.grad_x);
  for (uint32_t i = blockIdx.x * kNormThreads + threadIdx.x; i < total; i += step) {
    const uint32_t c = channel_of(s, i);
    const float v = load(x, i), scale = a.coef[c];
    const float dy = through_prelu(a, c, v * scale + a.coef[s.C + c], load(g, i)).dy;
    const float xhat = (v - a.mean[c]) * a.invstd[c];
    store(grad_x, i, scale * (dy - a.coef[2 * s.C + c] - xhat * a.coef[3 * s.C + c]));
  }
}

inline unsigned reduce_blocks(const NormShape& s) {
  return static_cast<unsigned>((s.C + s.tile - 1) / s.tile * s.splits);
}
inline unsigned channel_blocks(const NormShape& s) { return static_cast<unsigned>((s.C + kNormThreads - 1) / kNormThreads); }

// The passes in order; launch(kernel, blocks, args) runs kernel<<<blocks, kNormThreads>>>(args).
template <typename T, typename Launch>
void forward_passes(const NormArgs& a, Launch&& launch) {
  launch(stats_parts<T>, reduce_blocks(a.shape), a);
  launch(stats_finish, channel_blocks(a.shape), a);
  launch(apply_forward<T>, static_cast<unsigned>(a.shape.apply_blocks), a);
}

template <typename T, typename Launch>
void backward_passes(const NormArgs& a, Launch&& launch) {
  launch(backward_parts<T>, reduce_blocks(a.shape), a);
  launch(backward_finish, channel_blocks(a.shape), a);
  launch(apply_backward<T>, static_cast<unsigned>(a.shape.apply_blocks), a);
}

template <typename Launch>
void norm_forward(const NormArgs& a, Launch&& launch) {
  if (a.dtype == NormDtype::kBFloat16) forward_passes<Bf16>(a, launch);
  else forward_passes<float>(a, launch);
}

template <typename Launch>
void norm_backward(const NormArgs& a, Launch&& launch) {
  if (a.dtype == NormDtype::kBFloat16) backward_passes<Bf16>(a, launch);
  else backward_passes<float>(a, launch);
}

}  // namespace mvface::cuda::kernels
