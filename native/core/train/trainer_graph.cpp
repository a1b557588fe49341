// The static step: what TrainerOptions::cuda_graph captures, and static_step runs without
// capturing. Inputs are copied into buffers that keep their address; the step is two parts with no
// host read inside either: forward, loss and backward (statistics into a tensor), then, once the
// host has seen a finite loss, the SGD update with the learning rate in a tensor. A batch of another
// shape, or another head config (SphereFace anneals lambda every step), takes the eager step.
#include <ATen/core/grad_mode.h>

#include <functional>
#include <memory>
#include <string>

#include "errors.h"
#include "train/static_step.h"
#include "train/trainer.h"

namespace mvface::train {

namespace {

constexpr int kWarmupSteps = 3;  // eager runs on the side stream before capturing (PyTorch's advice)

// One part of the step: captured in a CUDA graph (cudaGraph), or run as it is. True once replaying.
#ifdef MVFACE_WITH_CUDA
bool run_part(StepPart& part, const std::function<void()>& body) {
  if (!part) return body(), false;
  part->run(body);
  return part->captured();
}
#else
bool run_part(StepPart&, const std::function<void()>& body) { return body(), false; }
#endif

}  // namespace

void Trainer::check_graph_options() const {
  if (options_.cuda_graph && !device_.is_cuda())
    fail("E_CONFIG", "cudaGraph", "CUDA graphs need device 'cuda' (this trainer runs on the CPU): set cudaGraph false");
  if ((options_.cuda_graph || options_.static_step) && options_.sample_rate < 1)
    fail("E_CONFIG", "cudaGraph", "Partial FC samples a different number of classes every step: set sampleRate 1");
}

bool Trainer::static_step_fits(const data::Batch& batch, const loss::LossConfig& head) const {
  if (head.mining != loss::Mining::None)
    fail("E_CONFIG", "cudaGraph", "focal and hm mining sort the rows on the host: set cudaGraph false or mining none");
  if (!static_) return true;
  return batch.images.sizes().equals(static_->images.sizes()) && loss::same_config(head, static_->head);
}

void Trainer::setup_static_step(const at::Tensor& images, const at::Tensor& labels, const loss::LossConfig& head) {
  static_ = std::make_unique<StaticStep>();
  StaticStep& s = *static_;
  s.images = at::empty_like(images);
  s.labels = at::empty_like(labels, labels.options().dtype(at::kLong));
  s.stats = at::zeros({4}, images.options().dtype(at::kDouble));
  s.neg_lr = at::zeros({}, images.options().dtype(at::kFloat));
  s.scale = at::ones({1}, images.options().dtype(at::kFloat));
  s.inv_scale = at::ones({1}, images.options().dtype(at::kFloat));
  s.head = head;
  for (size_t i = 0; i < params_.size(); ++i)  // the update graph needs them before it runs first
    if (options_.momentum != 0 && !momentum_[i].defined()) momentum_[i] = at::zeros_like(params_[i]);
#ifdef MVFACE_WITH_CUDA
  if (options_.cuda_graph) {
    s.forward_backward = std::make_unique<cuda::CapturedCall>(device_.index(), kWarmupSteps);
    s.update = std::make_unique<cuda::CapturedCall>(device_.index(), kWarmupSteps);
  }
#endif
}

StepResult Trainer::static_step(const data::Batch& batch, double lr, const loss::LossConfig& head) {
  check_host_labels(batch.labels);
  const auto [images, labels] = device_inputs(batch);
  if (!static_) setup_static_step(images, labels, head);
  StaticStep& s = *static_;
  s.images.copy_(images);
  s.labels.copy_(labels);
  const double loss_scale = scaler_.scale();
  if (scaler_.enabled()) {  // in float32, as the eager step's multiply: a scale above FLT_MAX is inf
    s.scale.fill_(static_cast<float>(loss_scale));
    s.inv_scale.fill_(static_cast<float>(1.0 / loss_scale));
  }
  model_->train();
  const bool replayed = run_part(s.forward_backward, [&] { forward_backward_body(head); });
  const at::Tensor stats = s.stats.to(at::kCPU);  // waits for the backward
  const double* v = stats.data_ptr<double>();
  check_loss_finite(v[0]);                       // nothing updated yet
  const bool apply = scaler_.update(v[3] == 0);  // the scaler's decision, on the host as in the eager step
  if (apply) {
    s.neg_lr.fill_(-lr);
    run_part(s.update, [&] { update_body(); });
  }
  ++steps_;
  StepResult r = batch_result(batch, images.size(0));
  r.loss = v[0];
  r.hard_fraction = v[1];
  r.mean_target_cos = v[2];
  r.loss_scale = loss_scale;
  r.update_skipped = !apply;
  r.mode = replayed ? StepMode::Graph : StepMode::Static;
  return r;
}

// Gradients start undefined (as in the eager step), so that during a capture the backward allocates
// them in the graph's memory; replays then write them in place.
void Trainer::forward_backward_body(const loss::LossConfig& head) {
  StaticStep& s = *static_;
  for (size_t i = 0; i + 1 < params_.size(); ++i) params_[i].mutable_grad() = at::Tensor();
  const at::Tensor embeddings = forward_for_loss(s.images);
  loss::FusedOptions capturable;
  capturable.capturable = true;
  capturable.block_classes = options_.chunk_classes;
  const loss::LossResult r = loss::fused_loss(head, embeddings.detach(), head_, s.labels, capturable);
  embeddings.backward(scaler_.enabled() ? r.grad_embeddings * s.scale : r.grad_embeddings);
  s.grads.clear();
  for (size_t i = 0; i + 1 < params_.size(); ++i) s.grads.push_back(params_[i].grad());
  s.stats.narrow(0, 0, 3).copy_(r.stats);
  // The backbone's gradients come out scaled (the head's comes from the fused loss, unscaled).
  if (scaler_.enabled()) s.stats.narrow(0, 3, 1).copy_(LossScaler::unscale(s.grads, s.inv_scale));
  s.grads.push_back(r.grad_weight);
}

// sgd_step's arithmetic with the learning rate read from a tensor, momentum buffers pre-allocated
// (zero: the first step's m = 0.9 * 0 + g is PyTorch's m = g) and the decay added in place.
void Trainer::update_body() {
  at::NoGradGuard no_grad;
  StaticStep& s = *static_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    at::Tensor g = s.grads[i];
    if (!g.defined()) continue;
    if (decays_[i] && options_.weight_decay != 0) g.add_(p, options_.weight_decay);
    if (options_.momentum != 0) g = momentum_[i].mul_(options_.momentum).add_(g);
    p.addcmul_(g, s.neg_lr);
  }
}

}  // namespace mvface::train
