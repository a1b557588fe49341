#pragma once
// Mixed precision for the trainer: autocast of the backbone's forward (bfloat16 on the CPU or CUDA,
// float16 on CUDA) with float32 master weights, and a dynamic loss scaler (PyTorch's GradScaler
// rules) that guards float16 gradients against underflow and skips steps whose gradients overflow.
// The loss itself always runs in float32 on float32 embeddings.
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace mvface::train {

enum class Precision { Fp32, Bf16, Fp16 };

// "fp32" | "bf16" | "fp16"; E_CONFIG (argument "precision") otherwise, or when `device` cannot run
// it: float16 autocast needs CUDA (the CPU's autocast runs bfloat16).
Precision parse_precision(const std::string& name, at::DeviceType device);
const char* precision_name(Precision p);

// Autocast on `device` for the scope's lifetime (nothing for Fp32). On leaving the outermost scope
// the cache of cast weights is cleared, as Python's torch.autocast does, so the next forward casts
// the updated weights again. Thread-local, like autocast itself.
class AutocastScope {
 public:
  AutocastScope(at::DeviceType device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType device_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// When enabled, every field is set by the caller (the defaults are in lib/config/defaults.ts).
struct ScalerOptions {
  bool enabled = false;
  double init_scale = 1;        // the scale of the first step
  double growth_factor = 1;     // after growth_interval finite steps in a row
  double backoff_factor = 0.5;  // after a step with non-finite gradients (that step is skipped)
  int64_t growth_interval = 1;
};

// E_CONFIG naming the field when out of range.
void validate_scaler(const ScalerOptions& options);

class LossScaler {
 public:
  explicit LossScaler(const ScalerOptions& options = {});

  bool enabled() const { return options_.enabled; }
  double scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  void set_state(double scale, int64_t growth_tracker);

  // d(scale * L) / d(embeddings): the gradient the backward starts from (g itself when disabled).
  at::Tensor scaled(const at::Tensor& grad) const;
  // Divides each defined gradient by the scale in place and updates the scale. True when every
  // gradient is finite (apply the step); false when one overflowed (skip it: the scale backs off).
  // Disabled: true, and nothing is read (no device synchronisation).
  bool unscale_and_update(const std::vector<at::Tensor>& grads);
  // The two halves of unscale_and_update. unscale multiplies each defined gradient by `inv_scale`
  // (1 element, float32, on their device) and returns found_inf (1 element, float32: 1 when one is
  // not finite) without reading anything back, so that a CUDA graph can capture it. update then
  // moves the scale on the host: true when the step is to be applied.
  static at::Tensor unscale(const std::vector<at::Tensor>& grads, const at::Tensor& inv_scale);
  bool update(bool finite);

 private:
  ScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace mvface::train
