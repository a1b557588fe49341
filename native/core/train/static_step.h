#pragma once
// What the Trainer's static step keeps between steps (train/trainer_graph.cpp): buffers whose
// addresses a CUDA graph captures, and with cudaGraph the two captured parts of the step.
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "loss/config.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/captured_call.h"
#endif

namespace mvface::train {

#ifdef MVFACE_WITH_CUDA
using StepPart = std::unique_ptr<cuda::CapturedCall>;  // null: run the part as it is
#else
struct StepPart {};
#endif

struct StaticStep {
  at::Tensor images, labels;    // the batch, copied in
  at::Tensor stats;             // float64: loss, hard fraction, mean target cosine, found_inf (loss scaler)
  at::Tensor neg_lr;            // float32 scalar: minus the learning rate
  at::Tensor scale, inv_scale;  // float32, 1 element: the loss scaler's scale this step, and 1 / it
  // What the forward and backward part produced for the update, the head's gradient last. Held
  // here so that a replayed graph's gradients stay alive whatever happens to param.grad().
  std::vector<at::Tensor> grads;
  loss::LossConfig head;
  StepPart forward_backward, update;
};

}  // namespace mvface::train
