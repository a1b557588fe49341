#pragma once
// SGD with momentum and weight decay, PyTorch's torch.optim.SGD arithmetic in its multi-tensor
// (foreach) form: on CUDA a handful of kernels for all parameters instead of several per parameter.
#include <ATen/ATen.h>

#include <vector>

namespace mvface::train {

// Set by the caller (the defaults are in lib/config/defaults.ts).
struct SgdOptions {
  double momentum = 0;
  double weight_decay = 0;
};

// For each i with grads[i] defined: d = g + wd p (where decays[i]); with momentum, buf = d on the
// first step (momentum[i] undefined), else buf = m buf + d, and d = buf; then p -= lr d. `params`
// and `momentum` are updated in place; `momentum` has one slot per parameter.
void sgd_step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
              const std::vector<bool>& decays, std::vector<at::Tensor>& momentum, double lr, const SgdOptions& options);

}  // namespace mvface::train
