#pragma once
// Batch norm, then a PReLU, then a residual add, as one step of the backbones: the fused pass
// (norm/fused_norm.h: CUDA kernels or CPU passes) in training mode when the model's fused norm is
// on, the pass takes the tensors, and on CUDA there is a PReLU or a residual to fuse; the modules
// otherwise, as the reference code runs them.
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>

#include "backbones/backbone.h"

namespace mvface::backbones {

// A module whose batch norms can run fused; use_fused_norm() sets `fused_norm` on each.
struct FusableNorm {
  virtual ~FusableNorm() = default;
  bool fused_norm = false;
};

// bn(x), then prelu when it is not empty, then + residual when defined.
at::Tensor norm_act(const at::Tensor& x, torch::nn::BatchNorm2d bn, torch::nn::PReLU prelu, const at::Tensor& residual,
                    bool fused);

// Turns the fused norm on or off in every module of `model` that has one; returns how many have one
// (0 for the backbones without: attention56 and small).
int64_t use_fused_norm(Backbone& model, bool on);

}  // namespace mvface::backbones
