// The Trainer's head: its loss over the whole head, over chunks of classes, over Partial FC's sample
// of classes or over this rank's shard, and the SGD update that goes with it.
#include <ATen/core/grad_mode.h>

#include "errors.h"
#include "loss/partial_fc.h"
#include "train/sgd.h"
#include "train/trainer.h"

namespace mvface::train {

void Trainer::check_head_options() const {
  if (!(options_.sample_rate > 0 && options_.sample_rate <= 1))
    fail("E_CONFIG", "sampleRate", "must be in (0, 1] (1: the whole head)");
  if (options_.chunk_classes < 0) fail("E_CONFIG", "chunkClasses", "must be an integer >= 0 (0: all classes at once)");
}

Trainer::HeadStep Trainer::head_loss(const loss::LossConfig& head, const at::Tensor& embeddings,
                                     const at::Tensor& labels, bool capturable) {
  HeadStep h;
  if (sharded()) {
    h.loss = dist::sharded_loss(*comm_, head, embeddings, head_, shard_.first, options_.num_classes, labels);
    return h;
  }
  loss::FusedOptions options;
  options.block_classes = options_.chunk_classes;
  options.capturable = capturable;
  if (options_.sample_rate >= 1) {
    h.loss = loss::fused_loss(head, embeddings, head_, labels, options);
    return h;
  }
  // A sample per step, reproducible from the seed and the step (so a resumed run draws the same).
  const uint64_t seed = options_.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(steps_ + 1);
  loss::PartialFcResult p = loss::partial_fc_loss(head, embeddings, head_, labels, options_.sample_rate, seed, options);
  h.loss = std::move(p.loss);
  if (p.sampled.numel() < options_.num_classes) h.sampled = p.sampled;
  return h;
}

at::Tensor Trainer::class_weights() const {
  const at::Tensor head = sharded() ? whole_head_rows(head_) : head_;
  return head.detach()
      .to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true)
      .contiguous();  // not a view of the head
}

// The head is the last parameter; its gradient comes from the fused loss, not from autograd.
void Trainer::sgd_update(double lr, const HeadStep& h) {
  std::vector<at::Tensor> grads;
  for (size_t i = 0; i + 1 < params_.size(); ++i) grads.push_back(params_[i].grad());
  grads.push_back(h.sampled.defined() ? at::Tensor() : h.loss.grad_weight);
  sgd_step(params_, grads, decays_, momentum_, lr, {options_.momentum, options_.weight_decay});
  if (h.sampled.defined()) sampled_head_update(lr, h.loss.grad_weight, h.sampled);
}

// Partial FC: the sampled rows and their momentum are taken out, stepped as one parameter, and put
// back; the other rows and their momentum are left as they are. A row's first momentum is zero,
// which gives PyTorch's first step (buf = d).
void Trainer::sampled_head_update(double lr, const at::Tensor& grad_rows, const at::Tensor& rows) {
  at::NoGradGuard no_grad;
  const at::Tensor index = rows.to(head_.device());
  at::Tensor& momentum = momentum_.back();
  if (options_.momentum != 0 && !momentum.defined()) momentum = at::zeros_like(head_);
  std::vector<at::Tensor> weights = {head_.index_select(0, index)};
  std::vector<at::Tensor> buffers = {options_.momentum != 0 ? momentum.index_select(0, index) : at::Tensor()};
  sgd_step(weights, {grad_rows}, {decays_.back()}, buffers, lr, {options_.momentum, options_.weight_decay});
  head_.index_copy_(0, index, weights[0]);
  if (options_.momentum != 0) momentum.index_copy_(0, index, buffers[0]);
}

}  // namespace mvface::train
