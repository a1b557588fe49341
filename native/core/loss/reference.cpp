// The reference path: the loss (docs/loss.md) as ATen ops, gradients by autograd. It shares no code with the
// fused path beyond the config, so that each checks the other.
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "loss/loss.h"
#include "loss/margin.h"

namespace mvface::loss {
namespace {

using at::Tensor;

Tensor normalize_rows(const Tensor& v) { return v / v.norm(2, {1}, true).clamp_min(kNormEps); }

Tensor chebyshev_tensor(int m, const Tensor& x) {
  Tensor prev = at::ones_like(x), cur = x;
  if (m == 0) return prev;
  for (int k = 1; k < m; ++k) {
    Tensor next = 2 * x * cur - prev;
    prev = cur;
    cur = next;
  }
  return cur;
}

// mu(g): the margined target cosine the MV mask compares against.
Tensor margined(const LossConfig& c, const Tensor& g) {
  switch (c.type) {
    case HeadType::Am:
    case HeadType::MvAm:
      return g - c.margin;
    case HeadType::Combined:
      return at::cos(c.m1 * at::acos(g) + c.m2) - c.m3;
    default: {
      Tensor sine = (1 - g * g).clamp_min(kSqrtEps).sqrt();
      return g * std::cos(c.margin) - sine * std::sin(c.margin);
    }
  }
}

Tensor target_value(const LossConfig& c, const Tensor& g, const Tensor& mu) {
  if (c.type == HeadType::SphereFace) {
    Tensor k = at::floor(c.sphere_m * at::acos(g.detach()) / M_PI);
    Tensor sign = 1 - 2 * at::remainder(k, 2);
    Tensor phi = sign * chebyshev_tensor(c.sphere_m, g) - 2 * k;
    return g + (phi - g) / (1 + c.sphere_lambda);
  }
  if (c.easy_margin) return at::where(g > 0, mu, g);
  if (c.arc_threshold()) return at::where(g > std::cos(M_PI - c.margin), mu, g - std::sin(M_PI - c.margin) * c.margin);
  return mu;
}

Tensor reweighted(const LossConfig& c, const Tensor& cos, const Tensor& hard) {
  if (c.mode == MvMode::Fixed) return cos + c.t * hard.to(cos.scalar_type());
  return at::where(hard, c.t * cos + (c.t - 1), cos);
}

Tensor reduce(const LossConfig& c, const Tensor& ce) {
  if (c.mining == Mining::Focal) {
    Tensor p = at::exp(-ce);
    return (at::pow(1 - p, c.focal_gamma) * ce).mean();
  }
  if (c.mining == Mining::HardMining) {
    const int64_t B = ce.size(0);
    const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(std::floor(c.hm_ratio * B + 1e-9)));
    Tensor order = std::get<1>(at::sort(ce.detach(), /*stable=*/true, /*dim=*/0, /*descending=*/true));
    return ce.index_select(0, order.slice(0, 0, keep)).mean();
  }
  return ce.mean();
}

}  // namespace

LossResult reference_loss(const LossConfig& c, const Tensor& x_in, const Tensor& w_in, const Tensor& labels_in) {
  validate_config(c);
  validate_inputs(x_in, w_in, labels_in);
  check_finite(w_in, "weight");
  at::AutoGradMode grad_mode(true);
  Tensor x = x_in.detach().clone().requires_grad_(true);
  Tensor W = w_in.detach().clone().requires_grad_(true);
  Tensor y = labels_in.to(at::kLong).unsqueeze(1);
  Tensor onehot = at::zeros({x.size(0), W.size(0)}, x.options().dtype(at::kBool)).scatter_(1, y, true);

  Tensor z, target_cos, hard;
  if (c.type == HeadType::Softmax) {
    z = x.mm(W.t());
    target_cos = (normalize_rows(x) * normalize_rows(W).index_select(0, y.squeeze(1))).sum(1);
  } else {
    Tensor raw = normalize_rows(x).mm(normalize_rows(W).t());
    Tensor cos = at::where((raw > -1) & (raw < 1), raw, raw.detach().clamp(-1, 1));
    Tensor g = cos.gather(1, y);
    Tensor mu = c.type == HeadType::SphereFace ? g : margined(c, g);
    Tensor tau = target_value(c, g, mu);
    hard = c.misclassified_guided() ? (cos.detach() > mu.detach()) & ~onehot : at::zeros_like(onehot);
    Tensor negatives = c.misclassified_guided() ? reweighted(c, cos, hard) : cos;
    Tensor scale = c.type == HeadType::SphereFace ? x.norm(2, {1}, true) : at::full({1, 1}, c.scale, x.options());
    z = scale * at::where(onehot, tau.expand_as(cos), negatives);
    target_cos = g.squeeze(1);
  }
  Tensor ce = at::logsumexp(z, {1}) - z.gather(1, y).squeeze(1);
  Tensor loss = reduce(c, ce);
  loss.backward();

  LossResult r;
  r.loss = loss.item<double>();
  r.grad_embeddings = x.grad();
  r.grad_weight = W.grad();
  const double negatives = static_cast<double>(x.size(0)) * (W.size(0) - 1);
  r.hard_fraction = hard.defined() && negatives > 0 ? hard.sum().item<double>() / negatives : 0.0;
  r.mean_target_cos = target_cos.detach().mean().item<double>();
  return r;
}

}  // namespace mvface::loss
