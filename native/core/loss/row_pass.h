#pragma once
// One block of classes [c0, c0 + K) of the head, row by row: the part of the fused CPU path that
// knows the loss math. The target cosine of each row comes from outside (its class may be in another
// block, or on another rank), so the same code serves the whole head, a chunk of it, or a shard.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "loss/margin.h"
#include "loss/row_kernel.h"

namespace mvface::loss {

// g_i: the clamped target cosine (the raw logit for softmax) and whether the clamp passes gradient.
struct RowTarget {
  double g = 0;
  bool live = true;
};

// What one block contributes to a row's backward.
struct BlockGradient {
  int64_t hard = 0;
  double expected_value = 0;  // sum over the block's negatives of p_k * value_k (sphereface)
};

template <typename T>
class RowPass {
 public:
  // buffer: B x K cosines before the column scale (x̂ W_blockᵀ); col_scale: K entries;
  // labels: global class ids; c0: the block's first class.
  RowPass(const HeadParams& p, T* buffer, int64_t c0, int64_t K, const T* col_scale, const int64_t* labels,
          const T* row_norm, const std::vector<RowTarget>& targets)
      : p_(p), buf_(buffer), c0_(c0), K_(K), col_(col_scale), labels_(labels), row_norm_(row_norm), targets_(targets) {}

  // The row's target logit s * tau(g) (s = ‖x_i‖ for sphereface).
  double target_logit(int64_t i) const { return row(i).z_target; }

  // Sweep 1: log-sum-exp over the block's negatives (-inf when it has none); nothing is written.
  double negatives_logsumexp(int64_t i) const {
    const Row r = row(i);
    constexpr double none = -std::numeric_limits<double>::infinity();
    if constexpr (std::is_same_v<T, float>)
      return row_logsumexp_simd(r.k, buf_ + i * K_, K_, none);
    else
      return row_logsumexp(r.k, buf_ + i * K_, K_, none);
  }

  // Sweep 2: dL/dc_ik (times the column scale) over the block's row, for row weight w = dL/dCE_i and
  // the row's full log-sum-exp; the target's column too when it is in this block.
  BlockGradient write_gradient(int64_t i, double w, double lse) const {
    const Row r = row(i);
    T* out = buf_ + i * K_;
    RowGradient g;
    if constexpr (std::is_same_v<T, float>)
      g = row_gradient_simd(r.k, out, K_, lse, w);
    else
      g = row_gradient(r.k, out, K_, lse, w);
    if (r.k.y >= 0) {
      const double p_target = std::exp(r.z_target - lse);
      const double dz = r.live ? r.scale * r.tg.dtau : 0.0;
      out[r.k.y] = static_cast<T>(w * (p_target - 1.0) * dz * col_[r.k.y]);
    }
    return {g.hard, g.expected_value};
  }

  // Sphereface's dL/d‖x_i‖ from the row's totals over all blocks.
  double norm_gradient(int64_t i, double w, double lse, double expected_negatives) const {
    const Row r = row(i);
    const double p_target = std::exp(r.z_target - lse);
    return w * (expected_negatives + p_target * r.tg.tau - r.tg.tau);
  }

 private:
  struct Row {
    RowConstants<T> k;
    double scale, z_target;
    bool live;
    TargetMargin tg;
  };

  Row row(int64_t i) const {
    constexpr T inf = std::numeric_limits<T>::infinity();
    Row r;
    const int64_t local = labels_[i] - c0_;
    r.k.y = local >= 0 && local < K_ ? local : -1;
    r.k.col = col_;
    r.k.lo = p_.normalized ? T(-1) : -inf;
    r.k.hi = p_.normalized ? T(1) : inf;
    r.live = targets_[i].live;
    r.tg = target_margin(p_, targets_[i].g);
    r.k.mu = p_.mv ? static_cast<T>(r.tg.mu) : inf;
    r.k.hard_a = static_cast<T>(p_.adaptive ? p_.t : 1.0);
    r.k.hard_b = static_cast<T>(p_.adaptive ? p_.t - 1.0 : p_.t);
    r.scale = p_.type == HeadType::SphereFace ? static_cast<double>(row_norm_[i]) : (p_.normalized ? p_.scale : 1.0);
    r.k.scale = static_cast<T>(r.scale);
    r.z_target = r.scale * r.tg.tau;
    return r;
  }

  HeadParams p_;
  T* buf_;
  int64_t c0_, K_;
  const T* col_;
  const int64_t* labels_;
  const T* row_norm_;
  const std::vector<RowTarget>& targets_;
};

// log(e^a + e^b), exact when either is -inf.
inline double log_add_exp(double a, double b) {
  if (a == -std::numeric_limits<double>::infinity()) return b;
  if (b == -std::numeric_limits<double>::infinity()) return a;
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

}  // namespace mvface::loss
