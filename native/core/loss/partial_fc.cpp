#include "loss/partial_fc.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "errors.h"

namespace mvface::loss {

at::Tensor sample_classes(const at::Tensor& labels, int64_t classes, double rate, uint64_t seed) {
  if (!(rate > 0 && rate <= 1)) fail("E_CONFIG", "sampleRate", "must be in (0, 1]");
  const at::Tensor positives = std::get<0>(at::_unique(labels.to(at::kLong).cpu(), /*sorted=*/true));
  const int64_t others = classes - positives.numel();
  const int64_t wanted = positives.numel() + static_cast<int64_t>(std::ceil(rate * others - 1e-9));
  if (wanted >= classes) return at::arange(classes, at::kLong);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor score = at::rand({classes}, gen, at::kFloat);
  score.index_fill_(0, positives, 2.0);  // positives first
  return std::get<0>(std::get<1>(score.topk(wanted)).sort());
}

PartialFcResult partial_fc_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& labels, double rate, uint64_t seed, const FusedOptions& options) {
  validate_inputs(x, weight, labels);
  const int64_t C = weight.size(0);
  PartialFcResult out;
  out.sampled = sample_classes(labels, C, rate, seed);
  if (out.sampled.numel() == C) {
    out.loss = fused_loss(config, x, weight, labels, options);
    return out;
  }
  at::Tensor position = at::full({C}, -1, at::kLong);
  position.index_copy_(0, out.sampled, at::arange(out.sampled.numel(), at::kLong));
  const at::Tensor index = out.sampled.to(weight.device());
  const at::Tensor local_labels = position.index_select(0, labels.to(at::kLong).cpu()).to(labels.device());
  out.loss = fused_loss(config, x, weight.index_select(0, index), local_labels, options);
  return out;
}

at::Tensor dense_grad_weight(const PartialFcResult& r, const at::Tensor& weight) {
  if (r.sampled.numel() == weight.size(0)) return r.loss.grad_weight;
  at::Tensor dense = at::zeros_like(weight);
  dense.index_copy_(0, r.sampled.to(weight.device()), r.loss.grad_weight);
  return dense;
}

}  // namespace mvface::loss
