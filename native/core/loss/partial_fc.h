#pragma once
// Partial FC (InsightFace): per step, the loss over the batch's positive classes plus a seeded
// sample of `rate` of the other classes. rate = 1 is exactly the full head.
#include <ATen/ATen.h>

#include "loss/loss.h"

namespace mvface::loss {

struct PartialFcResult {
  LossResult loss;     // grad_weight: the sampled rows' gradient only (|sampled| x D, in that order)
  at::Tensor sampled;  // the sampled class indices, ascending (int64, CPU)
};

// The classes of one step: every label, and ceil(rate * others) more drawn by `seed`, ascending.
at::Tensor sample_classes(const at::Tensor& labels, int64_t classes, double rate, uint64_t seed);

PartialFcResult partial_fc_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& labels, double rate, uint64_t seed, const FusedOptions& options = {});

// The gradient of the whole head (C x D like `weight`): the sampled rows' gradient, zero elsewhere.
at::Tensor dense_grad_weight(const PartialFcResult& r, const at::Tensor& weight);

}  // namespace mvface::loss
