// The Trainer's precision, memory-format and device-transfer parts, apart from the step
// itself in train/trainer.cpp.
#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>

#include "backbones/norm_act.h"
#include "errors.h"
#include "train/synthetic_batch.h"
#include "train/trainer.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/staging.h"
#endif

namespace mvface::train {

void Trainer::setup_precision() {
  precision_ = parse_precision(options_.precision, device_.type());
  scaler_ = LossScaler(options_.scaler);
  check_graph_options();
  at::globalContext().setBenchmarkCuDNN(options_.cudnn_benchmark);
  if (options_.tf32) {
    at::globalContext().setAllowTF32CuDNN(*options_.tf32);
    at::globalContext().setAllowTF32CuBLAS(*options_.tf32);
  }
  fused_norm_active_ = backbones::use_fused_norm(*model_, options_.fused_norm) > 0 && options_.fused_norm;
  if (options_.channels_last) {
    at::NoGradGuard no_grad;
    for (auto& p : model_->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    for (auto& b : model_->buffers())
      if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

bool Trainer::cudnn_benchmark() { return at::globalContext().benchmarkCuDNN(); }

bool Trainer::conv_weights_channels_last() const {
  int64_t convolutions = 0;
  for (const auto& p : model_->parameters()) {
    if (p.dim() != 4 || p.size(2) * p.size(3) == 1) continue;
    if (!p.is_contiguous(at::MemoryFormat::ChannelsLast) || p.is_contiguous()) return false;
    ++convolutions;
  }
  return convolutions > 0;
}

std::pair<at::Tensor, at::Tensor> Trainer::device_inputs(const data::Batch& batch) const {
  at::Tensor images, labels;
#ifdef MVFACE_WITH_CUDA
  if (device_.is_cuda() && batch.images.is_cpu()) {
    cuda::DeviceBatch d = cuda::stage_batch(batch.images, batch.labels, device_);
    images = std::move(d.images);
    labels = std::move(d.labels);
  }
#endif
  if (!images.defined()) {
    images = batch.images.to(device_);
    labels = batch.labels.to(device_);
  }
  if (options_.channels_last && images.dim() == 4) images = images.contiguous(at::MemoryFormat::ChannelsLast);
  return {images, labels};
}

at::Tensor Trainer::forward_for_loss(const at::Tensor& images) {
  at::Tensor embeddings;
  {
    AutocastScope autocast(device_.type(), precision_);
    embeddings = model_->forward(images);
  }
  return embeddings.scalar_type() == at::kFloat ? embeddings : embeddings.to(at::kFloat);
}

bool Trainer::unscale_gradients() {
  if (!scaler_.enabled()) return true;
  std::vector<at::Tensor> grads;  // the backbone's; the head's comes unscaled from the fused loss
  for (size_t i = 0; i + 1 < params_.size(); ++i) grads.push_back(params_[i].grad());
  return scaler_.unscale_and_update(grads);
}

StepResult Trainer::step_synthetic(int64_t batch_size, double lr, const loss::LossConfig& head, bool stop) {
  return step(device_synthetic_batch(options_.backbone, options_.num_classes, batch_size, device_, steps_), lr, head,
              stop);
}

}  // namespace mvface::train
