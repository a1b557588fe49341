#pragma once
// Where one marginLoss call runs: the CUDA kernels, Partial FC (CPU) or the fused CPU loss.
#include <ATen/ATen.h>

#include <cstdint>

#include "loss/device.h"
#include "loss/loss.h"

namespace mvface::loss {

struct LossRoute {
  LossDevice device;
  FusedOptions fused;
  double sample_rate = 1.0;  // < 1: Partial FC with this share of the negative classes
  uint64_t sample_seed = 0;
};

// Throws E_CONFIG naming 'device' for Partial FC on CUDA.
void validate_route(const LossRoute& route);

// The loss and its gradients; Partial FC's weight gradient comes back dense (C x D).
LossResult routed_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                       const at::Tensor& labels, const LossRoute& route);

}  // namespace mvface::loss
