#include "train/precision.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "errors.h"
#include "torch_compat.h"

namespace mvface::train {

using torch_compat::autocast_dtype;
using torch_compat::autocast_enabled;
using torch_compat::set_autocast;

Precision parse_precision(const std::string& name, at::DeviceType device) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  if (name == "fp16") {
    if (device != at::kCUDA)
      fail("E_CONFIG", "precision",
           "'fp16' runs on device 'cuda' only (the CPU's autocast computes in bfloat16): use 'bf16' or 'fp32' "
           "on the CPU");
    return Precision::Fp16;
  }
  fail("E_CONFIG", "precision", "must be 'fp32', 'bf16' or 'fp16', got '" + name + "'");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Bf16:
      return "bf16";
    case Precision::Fp16:
      return "fp16";
    default:
      return "fp32";
  }
}

AutocastScope::AutocastScope(at::DeviceType device, Precision precision) : device_(device) {
  if (precision == Precision::Fp32) return;
  active_ = true;
  was_enabled_ = autocast_enabled(device);
  previous_dtype_ = autocast_dtype(device);
  set_autocast(device, true, precision == Precision::Fp16 ? at::kHalf : at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_, was_enabled_, previous_dtype_);
}

void validate_scaler(const ScalerOptions& o) {
  if (!(o.init_scale > 0) || !std::isfinite(o.init_scale)) fail("E_CONFIG", "initScale", "must be a finite number > 0");
  if (!(o.growth_factor >= 1) || !std::isfinite(o.growth_factor)) fail("E_CONFIG", "growthFactor", "must be >= 1");
  if (!(o.backoff_factor > 0 && o.backoff_factor < 1)) fail("E_CONFIG", "backoffFactor", "must be in (0, 1)");
  if (o.growth_interval < 1) fail("E_CONFIG", "growthInterval", "must be an integer >= 1");
}

LossScaler::LossScaler(const ScalerOptions& options) : options_(options), scale_(options.init_scale) {
  if (options.enabled) validate_scaler(options);
  if (!options.enabled) scale_ = 1.0;
}

void LossScaler::set_state(double scale, int64_t growth_tracker) {
  if (!options_.enabled) return;
  scale_ = scale;
  growth_tracker_ = growth_tracker;
}

at::Tensor LossScaler::scaled(const at::Tensor& grad) const {
  if (!options_.enabled) return grad;
  // In float32 a scale above FLT_MAX is inf: every gradient overflows and the step is skipped.
  return grad * scale_;
}

bool LossScaler::unscale_and_update(const std::vector<at::Tensor>& grads) {
  if (!options_.enabled) return true;
  const auto first = std::find_if(grads.begin(), grads.end(), [](const at::Tensor& g) { return g.defined(); });
  if (first == grads.end()) return true;
  const at::Tensor inv_scale = at::full({1}, 1.0 / scale_, first->options().dtype(at::kFloat));
  return update(unscale(grads, inv_scale).item<float>() == 0);
}

at::Tensor LossScaler::unscale(const std::vector<at::Tensor>& grads, const at::Tensor& inv_scale) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> defined;
  for (const auto& g : grads)
    if (g.defined()) defined.push_back(g);
  at::Tensor found_inf = at::zeros({1}, inv_scale.options());
  if (defined.empty()) return found_inf;
  if (inv_scale.is_cuda()) {
    // One fused pass over every gradient (libtorch's GradScaler kernel).
    at::_amp_foreach_non_finite_check_and_unscale_(defined, found_inf, inv_scale);
    return found_inf;
  }
  for (auto& g : defined) {
    found_inf.logical_or_(g.isfinite().logical_not().any());
    g.mul_(inv_scale);
  }
  return found_inf;
}

bool LossScaler::update(bool finite) {
  if (!options_.enabled) return true;
  if (!finite) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
  return finite;
}

}  // namespace mvface::train
