#pragma once
// Margin-softmax losses with their gradients. Inputs: x (B x D), W (C x D), labels (B, int32 or
// int64). Both paths return the mean loss and the gradients of the mean loss; neither modifies its
// inputs. x and W share one floating dtype (float32 or float64); the computation runs in it.
#include <ATen/ATen.h>

#include "loss/config.h"

namespace mvface::loss {

struct LossResult {
  double loss = 0;
  at::Tensor grad_embeddings;  // B x D
  at::Tensor grad_weight;      // C x D
  double hard_fraction = 0;    // share of negatives flagged mis-classified (MV types)
  double mean_target_cos = 0;
  // With FusedOptions::capturable: {loss, hard_fraction, mean_target_cos} as float64 on the inputs'
  // device, and the three doubles above left at 0 (reading them would wait for the device).
  at::Tensor stats;
};

// Throws E_SHAPE / E_LABEL / E_NONFINITE naming the argument. Finiteness of W is checked by the
// paths themselves where they compute row norms anyway.
void validate_inputs(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels);
// Shapes and dtypes only: no value is read, so no device synchronisation.
void validate_shapes(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels);
void check_finite(const at::Tensor& t, const char* argument);
// E_LABEL unless every label is in [0, classes). Reads the labels (a device sync if they are there).
void check_label_range(const at::Tensor& labels, int64_t classes);

struct FusedOptions {
  // Classes per block: 0 computes all C at once (one B x C buffer); K > 0 bounds the buffer at B x K,
  // with an online log-sum-exp across blocks and the cosines recomputed in the backward. Same result.
  int64_t block_classes = 0;
  // CUDA: nothing is read back to the host, so that a CUDA graph can capture the call. The label
  // range and finiteness checks are skipped (the caller validates labels; a non-finite input gives a
  // non-finite loss in LossResult::stats), and focal or hm mining (host-side sorting) is refused.
  // The CPU path computes as usual and fills LossResult::stats too.
  bool capturable = false;
};

// The fused path: one GEMM for the cosines, one parallel pass over the rows that applies margin,
// mask and re-weighting and writes dL/dc in place, then the two gradient GEMMs.
LossResult fused_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels,
                      const FusedOptions& options = {});

// The reference path: the loss written as ATen ops, gradients by autograd. Slow, readable.
LossResult reference_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                          const at::Tensor& labels);

// The three GEMMs alone (c = x̂Ŵᵀ, Gc Ŵ, Gcᵀ x̂): the floor the fused path is measured against.
void gemm_floor(const at::Tensor& xhat, const at::Tensor& what, at::Tensor& buffer, at::Tensor& grad_x,
                at::Tensor& grad_w);

}  // namespace mvface::loss
