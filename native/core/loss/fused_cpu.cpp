// The fused CPU path. Memory beyond inputs and outputs: one B x C buffer (cosines, then dL/dc in
// place), x̂ (B x D) and the C inverse norms of W. Ŵ is never materialised: the column scale 1/‖W_k‖
// is applied inside the row pass, and folded into dL/dc so that both gradient GEMMs use W itself.
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "errors.h"
#include "loss/loss.h"
#include "loss/margin.h"
#include "loss/row_kernel.h"

namespace mvface::loss {
namespace {

struct RowStats {
  double lse = 0, ce = 0;  // log-sum-exp of the row and its cross-entropy lse - z_y
  double target_cos = 0;
  int64_t hard = 0;
  double norm_grad = 0;    // sphereface: dL/d‖x_i‖
};

template <typename T>
class RowPass {
 public:
  RowPass(const HeadParams& p, T* buffer, int64_t classes, const T* col_scale, const int64_t* labels,
          const T* row_norm)
      : p_(p), buf_(buffer), C_(classes), col_(col_scale), labels_(labels), row_norm_(row_norm) {}

  // Sweep 1: the row's log-sum-exp; nothing is written.
  RowStats stats(int64_t i) const {
    const Row r = row(i);
    RowStats s;
    if constexpr (std::is_same_v<T, float>) s.lse = row_logsumexp_simd(r.k, buf_ + i * C_, C_, r.z_target);
    else s.lse = row_logsumexp(r.k, buf_ + i * C_, C_, r.z_target);
    s.ce = s.lse - r.z_target;
    s.target_cos = r.g;
    return s;
  }

  // Sweep 2: dL/dc_ik (times the column scale) written over the row, for row weight w = dL/dCE_i.
  void write_gradient(int64_t i, double w, RowStats& s) const {
    const Row r = row(i);  // reads the target cosine before the row is overwritten
    T* out = buf_ + i * C_;
    RowGradient g;
    if constexpr (std::is_same_v<T, float>) g = row_gradient_simd(r.k, out, C_, s.lse, w);
    else g = row_gradient(r.k, out, C_, s.lse, w);
    const double p_target = std::exp(r.z_target - s.lse);
    const double dz = r.g_live ? r.scale * r.tg.dtau : 0.0;
    out[r.k.y] = static_cast<T>(w * (p_target - 1.0) * dz * col_[r.k.y]);
    s.hard = g.hard;
    s.norm_grad = w * (g.expected_value + p_target * r.tg.tau - r.tg.tau);
  }

 private:
  struct Row {
    RowConstants<T> k;
    double g, scale, z_target;
    bool g_live;
    TargetMargin tg;
  };

  Row row(int64_t i) const {
    constexpr T inf = std::numeric_limits<T>::infinity();
    Row r;
    r.k.y = labels_[i];
    r.k.col = col_;
    r.k.lo = p_.normalized ? T(-1) : -inf;
    r.k.hi = p_.normalized ? T(1) : inf;
    const double raw = static_cast<T>(buf_[i * C_ + r.k.y] * col_[r.k.y]);
    r.g_live = raw > r.k.lo && raw < r.k.hi;
    r.g = p_.normalized ? std::clamp(raw, -1.0, 1.0) : raw;
    r.tg = target_margin(p_, r.g);
    r.k.mu = p_.mv ? static_cast<T>(r.tg.mu) : inf;
    r.k.hard_a = static_cast<T>(p_.adaptive ? p_.t : 1.0);
    r.k.hard_b = static_cast<T>(p_.adaptive ? p_.t - 1.0 : p_.t);
    r.scale = p_.type == HeadType::SphereFace ? static_cast<double>(row_norm_[i])
                                              : (p_.normalized ? p_.scale : 1.0);
    r.k.scale = static_cast<T>(r.scale);
    r.z_target = r.scale * r.tg.tau;
    return r;
  }

  HeadParams p_;
  T* buf_;
  int64_t C_;
  const T* col_;
  const int64_t* labels_;
  const T* row_norm_;
};

// Row weights dL/dCE_i and the loss, for plain mean, focal and hard-mining reductions.
struct Reduction {
  std::vector<double> weight;
  double loss = 0;
};

Reduction focal_weights(const std::vector<RowStats>& rows, double gamma) {
  const double B = static_cast<double>(rows.size());
  Reduction r;
  r.weight.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const double ce = rows[i].ce, p = std::exp(-ce), q = 1.0 - p;
    r.loss += std::pow(q, gamma) * ce / B;
    const double tail = (ce > 0 && gamma > 0) ? gamma * p * std::pow(q, gamma - 1.0) * ce : 0.0;
    r.weight[i] = (std::pow(q, gamma) + tail) / B;
  }
  return r;
}

Reduction hard_mining_weights(const std::vector<RowStats>& rows, double ratio) {
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(std::floor(ratio * B + 1e-9)));
  std::vector<int64_t> order(B);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rows[a].ce > rows[b].ce; });
  Reduction r;
  r.weight.assign(B, 0.0);
  for (int64_t j = 0; j < keep; ++j) {
    r.weight[order[j]] = 1.0 / keep;
    r.loss += rows[order[j]].ce / keep;
  }
  return r;
}

// In place, per row: g <- (g - v̂ (v̂ · g)) * (scaled ? inv_norm : 1), the backward of
// v / max(‖v‖, eps). W's gradient arrives already scaled (the column scale is folded into dL/dc).
template <typename T>
void normalize_backward_rows(at::Tensor& grad, const at::Tensor& v, const at::Tensor& inv_norm, bool scaled) {
  const int64_t D = grad.size(1);
  T* g = grad.data_ptr<T>();
  const T* pv = v.data_ptr<T>();
  const T* inv = inv_norm.data_ptr<T>();
  at::parallel_for(0, grad.size(0), 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* gr = g + r * D;
      const T* vr = pv + r * D;
      const double s = inv[r];
      T dot = 0, sq = 0;
#pragma omp simd reduction(+ : dot, sq)
      for (int64_t d = 0; d < D; ++d) {
        dot += vr[d] * gr[d];
        sq += vr[d] * vr[d];
      }
      const bool projected = sq > kNormEps * kNormEps;  // ‖v‖ > eps: v̂ = v * s is a unit vector
      const T coef = static_cast<T>(projected ? dot * s * s : 0.0);
      const T out_scale = static_cast<T>(scaled ? s : 1.0);
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) gr[d] = (gr[d] - coef * vr[d]) * out_scale;
    }
  });
}

at::Tensor inverse_norms(const at::Tensor& v, const char* argument) {
  at::Tensor norms = v.norm(2, {1});
  if (!at::isfinite(norms).all().item<bool>()) {
    check_finite(v, argument);
    fail("E_NONFINITE", argument, "a row norm overflows (values too large)");
  }
  return norms.clamp_min(kNormEps).reciprocal();
}

template <typename T>
LossResult fused_impl(const LossConfig& config, const at::Tensor& x_in, const at::Tensor& w_in,
                      const at::Tensor& labels_in) {
  const at::Tensor x = x_in.contiguous(), W = w_in.contiguous();
  const at::Tensor labels = labels_in.to(at::kLong).contiguous();
  const int64_t B = x.size(0), C = W.size(0);
  const HeadParams p = make_head_params(config);
  const bool normalized = config.normalized();

  at::Tensor x_inv = inverse_norms(x, "embeddings");
  at::Tensor xhat = normalized ? x * x_inv.unsqueeze(1) : x;
  at::Tensor w_inv;
  if (normalized) w_inv = inverse_norms(W, "weight");
  else check_finite(W, "weight");
  const at::Tensor col_scale = normalized ? w_inv : at::ones({C}, W.options());
  at::Tensor x_norm = config.type == HeadType::SphereFace ? x.norm(2, {1}) : at::Tensor();

  at::Tensor buffer = at::empty({B, C}, x.options());
  at::mm_out(buffer, xhat, W.t());

  RowPass<T> pass(p, buffer.data_ptr<T>(), C, col_scale.data_ptr<T>(),
                  labels.data_ptr<int64_t>(), x_norm.defined() ? x_norm.data_ptr<T>() : nullptr);
  std::vector<RowStats> rows(B);
  Reduction reduction;
  if (config.mining == Mining::None) {
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        rows[i] = pass.stats(i);
        pass.write_gradient(i, 1.0 / B, rows[i]);
      }
    });
    for (const RowStats& r : rows) reduction.loss += r.ce / B;
  } else {
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) rows[i] = pass.stats(i);
    });
    reduction = config.mining == Mining::Focal ? focal_weights(rows, config.focal_gamma)
                                               : hard_mining_weights(rows, config.hm_ratio);
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) pass.write_gradient(i, reduction.weight[i], rows[i]);
    });
  }

  LossResult result;
  result.loss = reduction.loss;
  at::Tensor grad_x = at::mm(buffer, W);
  at::Tensor grad_w = at::empty({C, W.size(1)}, W.options());
  at::mm_out(grad_w, buffer.t(), xhat);
  buffer.reset();
  if (normalized) {
    normalize_backward_rows<T>(grad_w, W, w_inv, false);
    normalize_backward_rows<T>(grad_x, x, x_inv, true);
  }
  if (x_norm.defined()) {
    std::vector<double> norm_grad(B);
    for (int64_t i = 0; i < B; ++i) norm_grad[i] = rows[i].norm_grad;
    at::Tensor ng = at::tensor(norm_grad, x.options().dtype(at::kDouble)).to(x.scalar_type());
    grad_x.add_(xhat * ng.unsqueeze(1));
  }
  int64_t hard = 0;
  double target_cos = 0;
  for (const RowStats& r : rows) {
    hard += r.hard;
    target_cos += r.target_cos;
  }
  result.hard_fraction = C > 1 ? static_cast<double>(hard) / (static_cast<double>(B) * (C - 1)) : 0.0;
  result.mean_target_cos = target_cos / B;
  if (!normalized) result.mean_target_cos = (x.mul(W.index_select(0, labels)).sum(1) * x_inv *
                                             W.index_select(0, labels).norm(2, {1}).clamp_min(kNormEps).reciprocal())
                                                .mean().item<double>();
  result.grad_embeddings = grad_x;
  result.grad_weight = grad_w;
  return result;
}

}  // namespace

LossResult fused_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                      const at::Tensor& labels) {
  validate_config(config);
  validate_inputs(x, weight, labels);
  if (x.scalar_type() == at::kDouble) return fused_impl<double>(config, x, weight, labels);
  if (x.scalar_type() == at::kFloat) return fused_impl<float>(config, x, weight, labels);
  fail("E_SHAPE", "embeddings", "dtype must be float32 or float64");
}

void gemm_floor(const at::Tensor& xhat, const at::Tensor& what, at::Tensor& buffer, at::Tensor& grad_x,
                at::Tensor& grad_w) {
  at::mm_out(buffer, xhat, what.t());
  at::mm_out(grad_x, buffer, what);
  at::mm_out(grad_w, buffer.t(), xhat);
}

}  // namespace mvface::loss
