#pragma once
// One model under training: a backbone, the head's class weights, SGD with momentum, a step counter.
// The step runs the backbone forward, the fused margin loss on its embeddings, the backward through
// the backbone, and the update. No napi here: bindings/trainer_binding.cpp wraps it.
#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backbones/backbone.h"
#include "data/loader.h"
#include "dist/comm.h"
#include "dist/data_parallel.h"
#include "dist/sharded_head.h"
#include "loss/config.h"
#include "loss/loss.h"
#include "train/precision.h"

namespace mvface::train {

struct TrainerOptions {
  backbones::BackboneOptions backbone;
  int64_t num_classes = 0;
  double momentum = 0, weight_decay = 0;  // set by the caller (the defaults are in lib/config/defaults.ts)
  uint64_t seed = 0;
  std::string device = "cpu";
  std::string precision = "fp32";  // autocast of the backbone: fp32 | bf16 | fp16 (CUDA only)
  ScalerOptions scaler;            // dynamic loss scaling (for fp16; usable with any precision)
  bool channels_last = false;      // NHWC images and conv weights
  // The backbone's batch norms with the PReLU and residual add after them run as one fused pass
  // (backbones/norm_act.h) in training steps, on the CPU and CUDA.
  bool fused_norm = false;
  // cuDNN times its algorithms for each new convolution shape and keeps the fastest (PyTorch's
  // torch.backends.cudnn.benchmark). Process-wide: the Trainer sets it when it is created.
  bool cudnn_benchmark = true;
  // TensorFloat-32 in cuDNN's convolutions and cuBLAS's float32 matrix products (PyTorch's
  // torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32). Unset: libtorch's
  // defaults (convolutions on, matrix products off). Process-wide, set when the Trainer is created.
  std::optional<bool> tf32;
  // The step as two CUDA graphs (forward and backward; update), captured after 3 eager warm-up steps
  // and replayed (train/trainer_graph.cpp). Needs CUDA, no process group, no mining.
  bool cuda_graph = false;
  // The same static step without capturing (the CPU can run it): how the graphs' bodies are tested.
  bool static_step = false;
  // With a comm of several ranks: rank r holds only the classes dist::shard_of(C, r, world) of the
  // head (model parallel, dist::sharded_loss); the backbone stays data parallel.
  bool shard_head = false;
  // The head's loss over chunks of this many classes (0: all at once): a B x K buffer, not B x C.
  int64_t chunk_classes = 0;
  // Partial FC: each step's loss uses the batch's classes and this share of the others (1: the
  // whole head). Only the sampled rows of the head, and their momentum, are updated (InsightFace).
  double sample_rate = 1.0;
};

// How a step ran: the usual way, as the CUDA graph's bodies run eagerly, or by replaying the graphs.
enum class StepMode { Eager, Static, Graph };

struct StepResult {
  double loss = 0, hard_fraction = 0, mean_target_cos = 0;
  int64_t samples = 0, skipped = 0, epoch = 0, index = 0, step = 0;
  std::vector<std::string> skipped_items;  // the corrupt samples skipped (files or records)
  double loss_scale = 1;                   // the scale this step's backward used (1 without a scaler)
  bool update_skipped = false;             // the scaled gradients overflowed: no update, the scale backed off
  StepMode mode = StepMode::Eager;
  // The step's `stop` argument, or with a process group whether any rank's was set: every rank then
  // stops after this same step (the flag travels with the step's statistics, no extra collective).
  bool stop = false;
  int64_t sampled_classes = 0;  // classes in this step's loss: all of them unless Partial FC
};

struct StaticStep;  // train/trainer_graph.cpp

class Trainer {
 public:
  explicit Trainer(const TrainerOptions& options);
  ~Trainer();

  // One SGD step on one batch. Throws E_NONFINITE (and changes nothing) if the loss is not finite.
  // `stop`: this caller wants to stop after this step (see StepResult::stop).
  StepResult step(const data::Batch& batch, double lr, const loss::LossConfig& head, bool stop = false);
  // Embeddings (eval mode, no gradient) of N x C x H x W float32 images.
  at::Tensor embed(const at::Tensor& images);
  // Closed-set accuracy: argmax over classes of cos(embedding, class weight), over a whole loader epoch.
  std::pair<int64_t, int64_t> closed_set_correct(data::BatchLoader& loader);

  // Checkpoint: model, head, momentum buffers, step, RNG state and the caller's metadata, as one
  // pickled dict (torch.load reads it), written to a temporary file and renamed into place.
  void save(const std::string& path, const std::string& meta) const;
  std::string load(const std::string& path);  // returns the metadata; E_CONFIG if shapes differ
  // The backbone's state dict alone (names as python/mvface_backbones.py), for PyTorch.
  void export_backbone(const std::string& path) const;

  // Data parallel: every later step averages gradients (and the reported loss) over the ranks of
  // `comm`; the model, head and optimizer state are first set to rank 0's (then, with shard_head,
  // each rank keeps its shard of the head). From then on save() and closed_set_correct() are
  // collective: every rank calls them, rank 0 alone writes the checkpoint.
  void set_comm(std::shared_ptr<dist::Comm> comm);

  // One step on a batch generated on the training device (train/synthetic_batch.h).
  StepResult step_synthetic(int64_t batch_size, double lr, const loss::LossConfig& head, bool stop = false);

  int64_t steps() const { return steps_; }
  const at::Device& device() const { return device_; }
  int64_t parameter_count() const;
  // Every convolution weight with a spatial extent (k x k > 1) is stored NHWC (channels_last took
  // effect); false when there is none.
  bool conv_weights_channels_last() const;
  // The fused batch norms are on: asked for, and the backbone has some.
  bool fused_norm_active() const { return fused_norm_active_; }
  // The process-wide cuDNN benchmark setting, as it is now.
  static bool cudnn_benchmark();
  // The whole head (C x D, float32, on the CPU); with a sharded head every rank calls it (a gather).
  at::Tensor class_weights() const;

 private:
  std::vector<std::pair<std::string, at::Tensor>> named_state() const;
  // train/trainer_head.cpp: the head's loss (whole, class-chunked, Partial FC or sharded) and the
  // SGD update of the backbone and the head (only the sampled rows with Partial FC).
  struct HeadStep {
    loss::LossResult loss;
    at::Tensor sampled;  // Partial FC's classes, ascending; undefined: every class
  };
  void check_head_options() const;
  // capturable: the statistics stay on the device (LossResult::stats); not with Partial FC or a shard.
  HeadStep head_loss(const loss::LossConfig& head, const at::Tensor& embeddings, const at::Tensor& labels,
                     bool capturable = false);
  void sgd_update(double lr, const HeadStep& h);
  void sampled_head_update(double lr, const at::Tensor& grad_rows, const at::Tensor& rows);
  // train/trainer_precision.cpp: precision, memory format and transfer to the device.
  void setup_precision();
  std::pair<at::Tensor, at::Tensor> device_inputs(const data::Batch& batch) const;
  at::Tensor forward_for_loss(const at::Tensor& images);    // autocast forward, float32 embeddings
  bool unscale_gradients();                                 // false: skip this step's update (loss scaler overflow)
  bool average_over_ranks(loss::LossResult& r, bool stop);  // true: some rank's stop was set
  // train/trainer_graph.cpp: the step with static inputs, its statistics and learning rate in
  // tensors, in two parts a CUDA graph can each capture.
  bool static_step_fits(const data::Batch& batch, const loss::LossConfig& head) const;
  void setup_static_step(const at::Tensor& images, const at::Tensor& labels, const loss::LossConfig& head);
  StepResult static_step(const data::Batch& batch, double lr, const loss::LossConfig& head);
  void forward_backward_body(const loss::LossConfig& head);
  void update_body();
  void check_graph_options() const;
  void check_loss_finite(double loss) const;               // E_NONFINITE naming the step
  void check_host_labels(const at::Tensor& labels) const;  // E_LABEL; labels on the device pass
  StepResult batch_result(const data::Batch& batch, int64_t samples) const;
  bool sharded() const { return comm_ && shard_.count > 0; }
  at::Tensor whole_head_rows(const at::Tensor& shard) const;  // every rank's shard, gathered

  TrainerOptions options_;
  std::shared_ptr<backbones::Backbone> model_;
  at::Tensor head_;  // num_classes x embedding_size
  std::vector<at::Tensor> params_;
  std::vector<bool> decays_;
  std::vector<at::Tensor> momentum_;
  int64_t steps_ = 0;
  at::Device device_;
  std::shared_ptr<dist::Comm> comm_;
  dist::ClassShard shard_;  // count 0: the whole head
  Precision precision_ = Precision::Fp32;
  LossScaler scaler_;
  bool fused_norm_active_ = false;
  std::unique_ptr<StaticStep> static_;  // set up by the first static step
  dist::GradientAverager averager_;     // data parallel: the gradient buckets, kept between steps
};

}  // namespace mvface::train
