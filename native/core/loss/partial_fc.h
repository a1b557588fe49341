#pragma once
// Partial FC (InsightFace): per step, the loss over the batch's positive classes plus a seeded
// sample of `rate` of the other classes. rate = 1 is exactly the full head.
#include <ATen/ATen.h>

#include "loss/loss.h"

namespace mvface::loss {

struct PartialFcResult {
  LossResult loss;        // grad_weight is dense (C x D), zero on the classes not sampled
  at::Tensor sampled;     // the sampled class indices, ascending (int64)
};

// The classes of one step: every label, and ceil(rate * others) more drawn by `seed`, ascending.
at::Tensor sample_classes(const at::Tensor& labels, int64_t classes, double rate, uint64_t seed);

PartialFcResult partial_fc_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& labels, double rate, uint64_t seed,
                                const FusedOptions& options = {});

}  // namespace mvface::loss
