#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "backend.h"
#include "dist/data_parallel.h"
#include "errors.h"
#include "loss/loss.h"
#include "train/static_step.h"
#include "train/torch_file.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/queued_read.h"
#endif

namespace mvface::train {
namespace {

constexpr const char* kFormat = "mvface-checkpoint-1";

// The authors' initialisation: uniform(-1, 1), each class vector renormalised to unit length.
at::Tensor initial_head(int64_t classes, int64_t dim) {
  at::Tensor w = at::empty({classes, dim}).uniform_(-1, 1);
  return w / w.norm(2, {1}, true).clamp_min(1e-12);
}

const c10::IValue& entry(const c10::impl::GenericDict& d, const std::string& key, const std::string& path) {
  auto it = d.find(c10::IValue(key));
  if (it == d.end()) fail("E_IO", path, "not an mvface checkpoint (no '" + key + "')");
  return it->value();
}

void copy_checked(at::Tensor& dst, const at::Tensor& src, const std::string& name) {
  if (!src.sizes().equals(dst.sizes()))
    fail("E_CONFIG", "checkpoint",
         name + " has shape " + c10::str(src.sizes()) + " but the model's is " + c10::str(dst.sizes()) +
             ": the checkpoint comes from another config");
  at::NoGradGuard no_grad;
  dst.copy_(src);
}

// The step's statistics from LossResult::stats. On CUDA their copy to the host is queued when this is
// made and waited for in into(), so that a backward queued in between already runs on the device.
class StatsRead {
 public:
  explicit StatsRead(const at::Tensor& stats) : stats_(stats) {
#ifdef MVFACE_WITH_CUDA
    if (stats.is_cuda()) queued_ = std::make_unique<cuda::QueuedRead>(stats);
#endif
  }

  void into(loss::LossResult& r) {
    const at::Tensor host = on_host();
    const double* v = host.data_ptr<double>();
    r.loss = v[0], r.hard_fraction = v[1], r.mean_target_cos = v[2];
  }

 private:
  at::Tensor on_host() {
#ifdef MVFACE_WITH_CUDA
    if (queued_) return queued_->wait();
#endif
    return stats_.to(at::kCPU).contiguous();
  }

  at::Tensor stats_;
#ifdef MVFACE_WITH_CUDA
  std::unique_ptr<cuda::QueuedRead> queued_;
#endif
};

}  // namespace

Trainer::~Trainer() = default;

Trainer::Trainer(const TrainerOptions& options) : options_(options), device_(parse_device(options.device)) {
  if (options.num_classes < 2) fail("E_CONFIG", "numClasses", "must be at least 2");
  check_head_options();
  at::manual_seed(options.seed);
  model_ = backbones::make_backbone(options.backbone);
  model_->to(device_);
  setup_precision();
  head_ = initial_head(options.num_classes, options.backbone.embedding_size).to(device_);
  for (auto& p : backbones::decay_parameters(*model_)) params_.push_back(p), decays_.push_back(true);
  for (auto& p : backbones::no_decay_parameters(*model_)) params_.push_back(p), decays_.push_back(false);
  params_.push_back(head_), decays_.push_back(true);
  momentum_.resize(params_.size());
}

StepResult Trainer::step(const data::Batch& batch, double lr, const loss::LossConfig& head, bool stop) {
  if ((options_.cuda_graph || options_.static_step) && static_step_fits(batch, head)) {
    StepResult s = static_step(batch, lr, head);
    s.stop = stop;  // no process group with the static step
    return s;
  }
  // Without a process group (which averages the statistics on the host) the loss leaves them on the
  // device, read once the backward is queued: no device sync between the forward and the backward.
  const bool deferred = !comm_ && options_.sample_rate >= 1 && head.mining == loss::Mining::None;
  if (deferred) check_host_labels(batch.labels);  // the capturable loss does not read them
  model_->train();
  const auto [images, labels] = device_inputs(batch);
  for (size_t i = 0; i + 1 < params_.size(); ++i) params_[i].mutable_grad() = at::Tensor();
  if (comm_) dist::broadcast_from_rank0(*comm_, model_->buffers());  // as DDP: rank 0's BN statistics
  at::Tensor embeddings = forward_for_loss(images);
  HeadStep h = head_loss(head, embeddings.detach(), labels, deferred);
  loss::LossResult& r = h.loss;
  // The sharded loss is already the global batch's: scaled by the world size, its gradients come
  // out of the averaging below as the sum over the ranks, which is the global gradient.
  if (sharded()) r.grad_embeddings = r.grad_embeddings * static_cast<double>(comm_->world_size());
  const double loss_scale = scaler_.scale();
  r.grad_embeddings = scaler_.scaled(r.grad_embeddings);
  std::optional<StatsRead> stats;
  if (deferred) stats.emplace(r.stats);
  embeddings.backward(r.grad_embeddings);
  if (stats) stats->into(r);
  if (comm_) stop = average_over_ranks(r, stop);  // every rank then sees the same loss, so all stop together on NaN
  check_loss_finite(r.loss);                      // nothing updated yet
  const bool apply = unscale_gradients();
  if (apply) sgd_update(lr, h);
  ++steps_;
  StepResult s = batch_result(batch, images.size(0));
  s.loss = r.loss;
  s.hard_fraction = r.hard_fraction;
  s.mean_target_cos = r.mean_target_cos;
  s.loss_scale = loss_scale;
  s.update_skipped = !apply;
  s.stop = stop;
  s.sampled_classes = h.sampled.defined() ? h.sampled.numel() : options_.num_classes;
  return s;
}

// Labels from the host are checked there; labels already on the device come from
// device_synthetic_batch, in range by construction.
void Trainer::check_host_labels(const at::Tensor& labels) const {
  if (labels.is_cpu()) loss::check_label_range(labels, options_.num_classes);
}

void Trainer::check_loss_finite(double loss) const {
  if (!std::isfinite(loss))
    fail("E_NONFINITE", "loss",
         "is " + std::to_string(loss) + " at step " + std::to_string(steps_ + 1) +
             ": training diverged (lower the learning rate)");
}

// The batch's part of a step's result, after the step has counted.
StepResult Trainer::batch_result(const data::Batch& batch, int64_t samples) const {
  StepResult s;
  s.samples = samples;
  s.skipped = batch.skipped;
  s.skipped_items = batch.skipped_items;
  s.epoch = batch.epoch;
  s.index = batch.index;
  s.step = steps_;
  return s;
}

void Trainer::set_comm(std::shared_ptr<dist::Comm> comm) {
  if (options_.cuda_graph || options_.static_step)
    fail("E_CONFIG", "cudaGraph", "data-parallel steps exchange gradients through the host: set cudaGraph false");
  if (options_.sample_rate < 1)
    fail("E_CONFIG", "sampleRate",
         "Partial FC samples per process, so the replicas' heads would drift apart: use shardHead");
  if (options_.chunk_classes > 0 && options_.shard_head)
    fail("E_CONFIG", "chunkClasses", "the sharded head takes its shard whole: set chunkClasses 0 with shardHead");
  comm_ = std::move(comm);
  std::vector<at::Tensor> state;
  for (auto& [name, t] : named_state()) state.push_back(t);
  state.push_back(head_);
  for (auto& m : momentum_)
    if (m.defined()) state.push_back(m);
  dist::broadcast_from_rank0(*comm_, state);
  if (!options_.shard_head || comm_->world_size() == 1) return;
  shard_ = dist::shard_of(options_.num_classes, comm_->rank(), comm_->world_size());
  head_ = head_.narrow(0, shard_.first, shard_.count).clone();
  params_.back() = head_;
  at::Tensor& head_momentum = momentum_.back();
  if (head_momentum.defined()) head_momentum = head_momentum.narrow(0, shard_.first, shard_.count).clone();
}

at::Tensor Trainer::whole_head_rows(const at::Tensor& shard) const {
  const int world = comm_->world_size();
  const int64_t rows = (options_.num_classes + world - 1) / world;  // all_gather needs equal shapes
  at::Tensor padded = at::zeros({rows, shard.size(1)}, shard.options());
  padded.narrow(0, 0, shard.size(0)).copy_(shard);
  const at::Tensor all = comm_->all_gather(padded);
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world; ++r)
    parts.push_back(all.narrow(0, r * rows, dist::shard_of(options_.num_classes, r, world).count));
  return at::cat(parts);
}

// Gradients of this rank's mean loss, averaged: the gradient of the mean over the global batch (the
// ranks' batches are equal in size). Batch-norm statistics stay per rank, as in PyTorch's DDP.
bool Trainer::average_over_ranks(loss::LossResult& r, bool stop) {
  std::vector<at::Tensor> grads;
  for (size_t i = 0; i + 1 < params_.size(); ++i) {
    if (!params_[i].grad().defined()) params_[i].mutable_grad() = at::zeros_like(params_[i]);
    grads.push_back(params_[i].grad());
  }
  if (!sharded()) grads.push_back(r.grad_weight);  // a shard's gradient is its own rank's alone
  at::Tensor stats =
      at::tensor({r.loss, r.hard_fraction, r.mean_target_cos, stop ? 1.0 : 0.0}, at::kDouble).to(device_);
  grads.push_back(stats);
  averager_.average(*comm_, grads);
  stats = stats.to(at::kCPU);
  r.loss = stats[0].item<double>();
  r.hard_fraction = stats[1].item<double>();
  r.mean_target_cos = stats[2].item<double>();
  return stats[3].item<double>() > 0;
}

at::Tensor Trainer::embed(const at::Tensor& images) {
  at::NoGradGuard no_grad;
  model_->eval();
  return model_->forward(images.to(device_)).to(at::kCPU).contiguous();
}

std::pair<int64_t, int64_t> Trainer::closed_set_correct(data::BatchLoader& loader) {
  const at::Tensor head = sharded() ? whole_head_rows(head_) : head_;
  const at::Tensor classes = head / head.norm(2, {1}, true).clamp_min(1e-12);
  int64_t correct = 0, total = 0;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    at::Tensor e = embed(batch->images).to(device_);
    e = e / e.norm(2, {1}, true).clamp_min(1e-12);
    const at::Tensor predicted = e.mm(classes.t()).argmax(1).to(at::kCPU);
    correct += predicted.eq(batch->labels).sum().item<int64_t>();
    total += batch->labels.size(0);
  }
  return {correct, total};
}

std::vector<std::pair<std::string, at::Tensor>> Trainer::named_state() const {
  std::vector<std::pair<std::string, at::Tensor>> items;
  for (const auto& p : model_->named_parameters(true)) items.emplace_back(p.key(), p.value());
  for (const auto& b : model_->named_buffers(true)) items.emplace_back(b.key(), b.value());
  return items;
}

void Trainer::save(const std::string& path, const std::string& meta) const {
  std::vector<std::pair<std::string, at::Tensor>> momentum;
  for (size_t i = 0; i < momentum_.size(); ++i)
    if (momentum_[i].defined()) momentum.emplace_back(std::to_string(i), momentum_[i]);
  const at::Tensor head = sharded() ? whole_head_rows(head_) : head_;
  if (sharded() && momentum_.back().defined()) momentum.back().second = whole_head_rows(momentum_.back());
  if (comm_ && comm_->rank() != 0) return;
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("meta", meta);
  d.insert("steps", steps_);
  d.insert("model", tensor_dict(named_state()));
  d.insert("head", head.to(at::kCPU));
  d.insert("momentum", tensor_dict(momentum));
  at::Generator rng = at::detail::getDefaultCPUGenerator();
  d.insert("rng", rng.get_state());
  d.insert("scaler", at::tensor({scaler_.scale(), static_cast<double>(scaler_.growth_tracker())}, at::kDouble));
  write_atomically(path, torch_file_bytes(c10::IValue(d)));
}

std::string Trainer::load(const std::string& path) {
  if (sharded()) fail("E_CONFIG", "checkpoint", "load it before joining the process group (the head is sharded)");
  static_.reset();  // the momentum buffers are replaced: captured graphs would update the old ones
  const c10::IValue v = read_torch_file(path);
  if (!v.isGenericDict()) fail("E_IO", path, "not an mvface checkpoint");
  const c10::impl::GenericDict d = v.toGenericDict();
  if (entry(d, "format", path).toStringRef() != kFormat) fail("E_IO", path, "unknown checkpoint format");
  const auto model = entry(d, "model", path).toGenericDict();
  for (auto& [name, tensor] : named_state()) {
    auto it = model.find(c10::IValue(name));
    if (it == model.end()) fail("E_CONFIG", "checkpoint", "has no " + name + ": it comes from another config");
    copy_checked(tensor, it->value().toTensor(), name);
  }
  copy_checked(head_, entry(d, "head", path).toTensor(), "head");
  const auto momentum = entry(d, "momentum", path).toGenericDict();
  for (size_t i = 0; i < momentum_.size(); ++i) {
    auto it = momentum.find(c10::IValue(std::to_string(i)));
    momentum_[i] = it == momentum.end() ? at::Tensor() : it->value().toTensor().to(device_).clone();
    if (momentum_[i].defined() && !momentum_[i].sizes().equals(params_[i].sizes()))
      fail("E_CONFIG", "checkpoint", "optimizer state does not match the model: another config");
  }
  steps_ = entry(d, "steps", path).toInt();
  at::Generator rng = at::detail::getDefaultCPUGenerator();
  rng.set_state(entry(d, "rng", path).toTensor());
  auto scaler = d.find(c10::IValue(std::string("scaler")));  // absent in the first checkpoints
  if (scaler != d.end()) {
    const at::Tensor state = scaler->value().toTensor();
    scaler_.set_state(state[0].item<double>(), static_cast<int64_t>(state[1].item<double>()));
  }
  return entry(d, "meta", path).toStringRef();
}

void Trainer::export_backbone(const std::string& path) const {
  write_atomically(path, torch_file_bytes(c10::IValue(tensor_dict(named_state()))));
}

int64_t Trainer::parameter_count() const { return backbones::parameter_count(*model_); }

}  // namespace mvface::train
