#include "train/sgd.h"

#include <ATen/core/grad_mode.h>

namespace mvface::train {
namespace {

// The parameters that have a gradient, by index, with their (later: decayed) gradients.
struct Live {
  std::vector<size_t> index;
  std::vector<at::Tensor> params, grads;
};

void add_weight_decay(Live& live, const std::vector<bool>& decays, double weight_decay) {
  if (weight_decay == 0) return;
  std::vector<size_t> decayed_at;  // positions in `live`
  std::vector<at::Tensor> params, grads;
  for (size_t k = 0; k < live.index.size(); ++k)
    if (decays[live.index[k]])
      decayed_at.push_back(k), params.push_back(live.params[k]), grads.push_back(live.grads[k]);
  if (decayed_at.empty()) return;
  const std::vector<at::Tensor> decayed = at::_foreach_add(grads, params, weight_decay);
  for (size_t j = 0; j < decayed_at.size(); ++j) live.grads[decayed_at[j]] = decayed[j];
}

void apply_momentum(Live& live, std::vector<at::Tensor>& momentum, double m) {
  std::vector<at::Tensor> buffers, grads;
  for (size_t k = 0; k < live.index.size(); ++k) {
    at::Tensor& buffer = momentum[live.index[k]];
    if (!buffer.defined())
      buffer = live.grads[k].clone();
    else
      buffers.push_back(buffer), grads.push_back(live.grads[k]);
  }
  if (!buffers.empty()) {
    at::_foreach_mul_(buffers, m);
    at::_foreach_add_(buffers, grads);
  }
  for (size_t k = 0; k < live.index.size(); ++k) live.grads[k] = momentum[live.index[k]];
}

}  // namespace

void sgd_step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
              const std::vector<bool>& decays, std::vector<at::Tensor>& momentum, double lr,
              const SgdOptions& options) {
  at::NoGradGuard no_grad;
  Live live;
  for (size_t i = 0; i < params.size(); ++i)
    if (grads[i].defined()) live.index.push_back(i), live.params.push_back(params[i]), live.grads.push_back(grads[i]);
  if (live.index.empty()) return;
  add_weight_decay(live, decays, options.weight_decay);
  if (options.momentum != 0) apply_momentum(live, momentum, options.momentum);
  at::_foreach_add_(live.params, live.grads, -lr);
}

}  // namespace mvface::train
