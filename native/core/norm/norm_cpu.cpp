// The fused batch norm's passes on the CPU (norm_cpu.h). Two layouts: planes (NCHW: N planes of
// H*W values per channel, one channel per task) and rows (channels-last: N*H*W rows of C values,
// chunks of rows per task, their per-channel sums added up afterwards). Inner loops run over one
// plane or one row with the per-channel constants hoisted, branch-free, so that they vectorise;
// float32 partial sums over a plane or a block of rows go into float64 totals. Built with
// -fno-trapping-math (CMakeLists.txt), without which GCC keeps the PReLU's select as a branch.
#include "norm/norm_cpu.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mvface::norm {
namespace {

constexpr int64_t kRowBlock = 256;  // rows summed in float32 before going into the float64 totals
constexpr int64_t kRowChunks = 64;  // tasks of the rows layout's sums: a fixed count, so that the
                                    // sums do not depend on the thread count

struct Layout {
  int64_t C, positions, inner;
  bool rows() const { return inner == 1; }
  int64_t outer() const { return positions / inner; }  // N (planes) or N*H*W (rows)
};

// The per-channel values a pass reads, as arrays of C floats.
struct Channels {
  std::vector<float> scale, bias, slope, mean, invstd;
};

// From the batch statistics in a.mean and a.invstd.
Channels channels_of(const NormArgs& a) {
  const int64_t C = a.shape.C;
  Channels k{std::vector<float>(C), std::vector<float>(C), std::vector<float>(C, 1.0f), std::vector<float>(C),
             std::vector<float>(C)};
  for (int64_t c = 0; c < C; ++c) {
    if (a.alpha) k.slope[c] = a.alpha[c * a.alpha_stride];
    k.mean[c] = a.mean[c];
    k.invstd[c] = a.invstd[c];
    k.scale[c] = a.weight[c] * a.invstd[c];
    k.bias[c] = a.bias[c];
  }
  return k;
}

// Per-channel float64 totals of M sums. plane(c, offset, len, sums) adds the sums of `len`
// consecutive values of channel c from element `offset` (planes); row(offset, sums) adds one row's
// values to sums[c * M + m] (rows).
template <int M, typename Plane, typename Row>
std::vector<double> per_channel(const Layout& l, const Plane& plane, const Row& row) {
  std::vector<double> totals(static_cast<size_t>(l.C * M), 0.0);
  if (!l.rows()) {
    at::parallel_for(0, l.C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t n = 0; n < l.outer(); ++n) {
          float sums[M] = {};
          plane(c, (n * l.C + c) * l.inner, l.inner, sums);
          for (int m = 0; m < M; ++m) totals[c * M + m] += sums[m];
        }
      }
    });
    return totals;
  }
  const int64_t blocks = (l.positions + kRowBlock - 1) / kRowBlock;
  const int64_t chunks = std::min<int64_t>(blocks, kRowChunks);
  std::vector<double> parts(static_cast<size_t>(chunks * l.C * M), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> sums(static_cast<size_t>(l.C * M));
    for (int64_t chunk = k0; chunk < k1; ++chunk) {
      double* part = parts.data() + chunk * l.C * M;
      for (int64_t b = blocks * chunk / chunks; b < blocks * (chunk + 1) / chunks; ++b) {
        std::fill(sums.begin(), sums.end(), 0.0f);
        for (int64_t p = b * kRowBlock; p < std::min(l.positions, (b + 1) * kRowBlock); ++p) row(p * l.C, sums.data());
        for (int64_t j = 0; j < l.C * M; ++j) part[j] += sums[j];
      }
    }
  });
  for (int64_t chunk = 0; chunk < chunks; ++chunk)
    for (int64_t j = 0; j < l.C * M; ++j) totals[j] += parts[chunk * l.C * M + j];
  return totals;
}

// body(c, offset, len): `len` consecutive values of channel c (planes), or a whole row with
// c = -1 (rows).
template <typename Body>
void each_run(const Layout& l, const Body& body) {
  if (!l.rows()) {
    at::parallel_for(0, l.outer() * l.C, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) body(q % l.C, q * l.inner, l.inner);
    });
    return;
  }
  at::parallel_for(0, l.positions, 64, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) body(int64_t{-1}, p * l.C, l.C);
  });
}

// The PReLU's slope at y: 1 where y > 0, else `slope`; as arithmetic on the comparison, without a
// branch, so that the loops vectorise (and a NaN y gives NaN through it, as in PyTorch).
inline float prelu_factor(float y, float slope, bool prelu) {
  return prelu ? slope + (1.0f - slope) * static_cast<float>(y > 0.0f) : 1.0f;
}

// float32 -> T for the stores: bfloat16 rounded to nearest even as c10::BFloat16 does, NaN kept,
// with bit operations instead of its branch, so that the loops vectorise.
inline float stored(float v, float) { return v; }
inline c10::BFloat16 stored(float v, c10::BFloat16) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16, nan = 0u - static_cast<uint32_t>(v != v);
  return c10::BFloat16(static_cast<uint16_t>((rounded & ~nan) | (0x7fc0u & nan)), c10::BFloat16::from_bits());
}

template <typename T>
inline T store_as(float v) {
  return stored(v, T{});
}

// y = (x - mean) scale + bias (centred first: no cancellation between large terms), then the PReLU.
inline float normalise(float v, float mean, float scale, float bias) { return (v - mean) * scale + bias; }

inline float activate(float v, float mean, float scale, float bias, float slope, bool prelu) {
  const float y = normalise(v, mean, scale, bias);
  return y * prelu_factor(y, slope, prelu);
}

template <typename T, bool kPrelu, bool kResidual>
void apply_forward(const NormArgs& a, const Layout& l, const Channels& k) {
  const T* x = static_cast<const T*>(a.x);
  const T* residual = static_cast<const T*>(a.residual);
  T* out = static_cast<T*>(a.out);
  each_run(l, [&](int64_t c, int64_t offset, int64_t len) {
    const T* xs = x + offset;
    T* ys = out + offset;
    if (c >= 0) {
      const float mean = k.mean[c], sc = k.scale[c], bias = k.bias[c], al = k.slope[c];
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        float y = activate(static_cast<float>(xs[j]), mean, sc, bias, al, kPrelu);
        if constexpr (kResidual) y += static_cast<float>(residual[offset + j]);
        ys[j] = store_as<T>(y);
      }
      return;
    }
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      float y = activate(static_cast<float>(xs[j]), k.mean[j], k.scale[j], k.bias[j], k.slope[j], kPrelu);
      if constexpr (kResidual) y += static_cast<float>(residual[offset + j]);
      ys[j] = store_as<T>(y);
    }
  });
}

template <typename T>
void forward_typed(const NormArgs& a) {
  const Layout l{a.shape.C, a.shape.positions, a.shape.inner};
  const T* x = static_cast<const T*>(a.x);
  // Sums of x - K and (x - K)^2 about K = the channel's first value: no cancellation for large means.
  std::vector<float> first(static_cast<size_t>(l.C));
  for (int64_t c = 0; c < l.C; ++c) first[c] = static_cast<float>(x[l.rows() ? c : c * l.inner]);
  const std::vector<double> sums = per_channel<2>(
      l,
      [&](int64_t c, int64_t offset, int64_t len, float* s) {
        const float shift = first[c];
        float s0 = 0.0f, s1 = 0.0f;
#pragma omp simd reduction(+ : s0, s1)
        for (int64_t j = 0; j < len; ++j) {
          const float d = static_cast<float>(x[offset + j]) - shift;
          s0 += d;
          s1 += d * d;
        }
        s[0] += s0;
        s[1] += s1;
      },
      [&](int64_t offset, float* s) {
#pragma omp simd
        for (int64_t c = 0; c < l.C; ++c) {
          const float d = static_cast<float>(x[offset + c]) - first[c];
          s[2 * c] += d;
          s[2 * c + 1] += d * d;
        }
      });
  const double n = static_cast<double>(l.positions);
  for (int64_t c = 0; c < l.C; ++c) {
    const double mean_shift = sums[2 * c] / n, var = std::max(0.0, sums[2 * c + 1] / n - mean_shift * mean_shift);
    store_statistics(a, c, first[c] + mean_shift, var, n);
  }
  const Channels k = channels_of(a);
  if (a.alpha && a.residual)
    apply_forward<T, true, true>(a, l, k);
  else if (a.alpha)
    apply_forward<T, true, false>(a, l, k);
  else if (a.residual)
    apply_forward<T, false, true>(a, l, k);
  else
    apply_forward<T, false, false>(a, l, k);
}

// Through the PReLU (bn(x) = y recomputed): dy = dL/dy = g prelu_factor(y); the slope's gradient
// gets g y where y <= 0. Without a PReLU the factor is 1 and the slope's share 0.
inline float slope_share(float y, float g, bool prelu) {
  return prelu ? g * y * (1.0f - static_cast<float>(y > 0.0f)) : 0.0f;
}

template <typename T, bool kPrelu>
std::vector<double> backward_sums(const NormArgs& a, const Layout& l, const Channels& k) {
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  return per_channel<3>(
      l,
      [&](int64_t c, int64_t offset, int64_t len, float* s) {
        const float sc = k.scale[c], bias = k.bias[c], al = k.slope[c], mean = k.mean[c], invstd = k.invstd[c];
        const T* xs = x + offset;
        const T* gs = g + offset;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2)
        for (int64_t j = 0; j < len; ++j) {
          const float v = static_cast<float>(xs[j]), gv = static_cast<float>(gs[j]), y = normalise(v, mean, sc, bias);
          const float dy = gv * prelu_factor(y, al, kPrelu);
          s0 += dy;
          s1 += dy * ((v - mean) * invstd);
          s2 += slope_share(y, gv, kPrelu);
        }
        s[0] += s0;
        s[1] += s1;
        s[2] += s2;
      },
      [&](int64_t offset, float* s) {
        const T* xs = x + offset;
        const T* gs = g + offset;
        for (int64_t c = 0; c < l.C; ++c) {
          const float v = static_cast<float>(xs[c]), gv = static_cast<float>(gs[c]);
          const float y = normalise(v, k.mean[c], k.scale[c], k.bias[c]);
          const float dy = gv * prelu_factor(y, k.slope[c], kPrelu);
          s[3 * c] += dy;
          s[3 * c + 1] += dy * ((v - k.mean[c]) * k.invstd[c]);
          s[3 * c + 2] += slope_share(y, gv, kPrelu);
        }
      });
}

// grad x = scale (dy - mean(dy) - x̂ mean(dy x̂)), over `len` values of one channel (c >= 0) or a
// row of all channels (c = -1).
template <typename T, bool kPrelu>
void grad_run(const T* xs, const T* gs, T* out, int64_t len, const float* scale, const float* bias, const float* slope,
              const float* mean, const float* invstd, const float* mean_dy, const float* mean_dy_xhat) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    const float v = static_cast<float>(xs[j]), y = normalise(v, mean[j], scale[j], bias[j]);
    const float dy = static_cast<float>(gs[j]) * prelu_factor(y, slope[j], kPrelu);
    out[j] = store_as<T>(scale[j] * (dy - mean_dy[j] - (v - mean[j]) * invstd[j] * mean_dy_xhat[j]));
  }
}

template <typename T, bool kPrelu>
void apply_backward(const NormArgs& a, const Layout& l, const Channels& k, const std::vector<float>& mean_dy,
                    const std::vector<float>& mean_dy_xhat) {
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  T* grad_x = static_cast<T*>(a.grad_x);
  each_run(l, [&](int64_t c, int64_t offset, int64_t len) {
    if (c < 0) {
      grad_run<T, kPrelu>(x + offset, g + offset, grad_x + offset, len, k.scale.data(), k.bias.data(), k.slope.data(),
                          k.mean.data(), k.invstd.data(), mean_dy.data(), mean_dy_xhat.data());
      return;
    }
    const float sc = k.scale[c], bias = k.bias[c], al = k.slope[c], mean = k.mean[c], invstd = k.invstd[c];
    const float mdy = mean_dy[c], mdyx = mean_dy_xhat[c];
    const T* xs = x + offset;
    const T* gs = g + offset;
    T* out = grad_x + offset;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const float v = static_cast<float>(xs[j]), y = normalise(v, mean, sc, bias);
      const float dy = static_cast<float>(gs[j]) * prelu_factor(y, al, kPrelu);
      out[j] = store_as<T>(sc * (dy - mdy - (v - mean) * invstd * mdyx));
    }
  });
}

template <typename T>
void backward_typed(const NormArgs& a) {
  const Layout l{a.shape.C, a.shape.positions, a.shape.inner};
  const Channels k = channels_of(a);
  const std::vector<double> sums = a.alpha ? backward_sums<T, true>(a, l, k) : backward_sums<T, false>(a, l, k);
  const double n = static_cast<double>(l.positions);
  std::vector<float> mean_dy(static_cast<size_t>(l.C)), mean_dy_xhat(static_cast<size_t>(l.C));
  for (int64_t c = 0; c < l.C; ++c) {
    a.grad_bias[c] = static_cast<float>(sums[3 * c]);
    a.grad_weight[c] = static_cast<float>(sums[3 * c + 1]);
    if (a.alpha) a.grad_alpha[c] = static_cast<float>(sums[3 * c + 2]);
    mean_dy[c] = static_cast<float>(sums[3 * c] / n);
    mean_dy_xhat[c] = static_cast<float>(sums[3 * c + 1] / n);
  }
  if (a.alpha)
    apply_backward<T, true>(a, l, k, mean_dy, mean_dy_xhat);
  else
    apply_backward<T, false>(a, l, k, mean_dy, mean_dy_xhat);
}

}  // namespace

void norm_forward_cpu(const NormArgs& a) {
  if (a.dtype == NormDtype::kBFloat16)
    forward_typed<c10::BFloat16>(a);
  else
    forward_typed<float>(a);
}

void norm_backward_cpu(const NormArgs& a) {
  if (a.dtype == NormDtype::kBFloat16)
    backward_typed<c10::BFloat16>(a);
  else
    backward_typed<float>(a);
}

}  // namespace mvface::norm
