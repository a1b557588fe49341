#pragma once
// Where marginLoss runs: the CPU (the default, tensors as given) or CUDA (inputs copied to the
// device in float32 or bfloat16, gradients copied back as float32 CPU tensors).
#include <string>

#include "loss/loss.h"

namespace mvface::loss {

struct LossDevice {
  bool cuda = false;
  bool bfloat16 = false;  // only with cuda
};

// Throws E_CONFIG naming 'device' (unknown, or CUDA asked for and not usable) or 'dtype'.
LossDevice parse_loss_device(const std::string& device, const std::string& dtype);
// Throws E_CONFIG naming 'device' unless this build has CUDA and a device is visible.
void require_cuda();

LossResult fused_loss_on(const LossDevice& device, const LossConfig& config, const at::Tensor& x,
                         const at::Tensor& weight, const at::Tensor& labels, const FusedOptions& options = {});

}  // namespace mvface::loss
