#include "model/inference_model.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <mutex>
#include <unordered_map>

#include "backend.h"
#include "errors.h"
#include "train/torch_file.h"

namespace mvface::model {
namespace {

// The state dict inside a model.pt, or inside a checkpoint.pt's "model" entry.
c10::impl::GenericDict state_dict_of(const c10::IValue& value, const std::string& path) {
  if (!value.isGenericDict()) fail("E_IO", path, "not a model.pt or checkpoint.pt (no dict inside)");
  const c10::impl::GenericDict d = value.toGenericDict();
  const auto model = d.find(c10::IValue(std::string("model")));
  if (model != d.end() && model->value().isGenericDict()) return model->value().toGenericDict();
  return d;
}

NamedTensors named_tensors(const c10::impl::GenericDict& d, const std::string& path) {
  NamedTensors out;
  for (const auto& item : d) {
    if (!item.key().isString() || !item.value().isTensor()) fail("E_IO", path, "not a state dict (names to tensors)");
    out.emplace_back(item.key().toStringRef(), item.value().toTensor());
  }
  return out;
}

}  // namespace

InferenceModel::InferenceModel(const backbones::BackboneOptions& options, const std::string& path,
                               const std::string& device)
    : options_(options) {
  const NamedTensors state = named_tensors(state_dict_of(train::read_torch_file(path), path), path);
  model_ = backbones::make_backbone(options_);
  set_state(state);
  build(device);
}

InferenceModel::InferenceModel(const backbones::BackboneOptions& options, uint64_t seed, const std::string& device)
    : options_(options) {
  model_ = backbones::make_seeded_backbone(options_, seed);
  build(device);
}

void InferenceModel::build(const std::string& device) {
  model_->eval();
  model_->to(parse_device(device));
}

at::Tensor InferenceModel::embed(const at::Tensor& images) const {
  const int64_t s = options_.input_size;
  if (images.dim() != 4 || images.size(1) != options_.in_channels || images.size(2) != s || images.size(3) != s)
    fail("E_SHAPE", "images",
         "expected N x " + std::to_string(options_.in_channels) + " x " + std::to_string(s) + " x " +
             std::to_string(s) + ", got " + c10::str(images.sizes()));
  std::shared_lock<std::shared_mutex> read(lock_);
  at::NoGradGuard no_grad;
  const at::Device device = model_->parameters().front().device();
  return model_->forward(images.to(device, at::kFloat)).to(at::kCPU).contiguous();
}

NamedTensors InferenceModel::state() const {
  std::shared_lock<std::shared_mutex> read(lock_);
  NamedTensors out;
  for (const auto& p : model_->named_parameters(true))
    out.emplace_back(p.key(), p.value().detach().to(at::kCPU).contiguous().clone());
  for (const auto& b : model_->named_buffers(true))
    out.emplace_back(b.key(), b.value().to(at::kCPU).contiguous().clone());
  return out;
}

void InferenceModel::set_state(const NamedTensors& state) {
  std::unique_lock<std::shared_mutex> write(lock_);
  std::unordered_map<std::string, at::Tensor> targets;
  for (const auto& p : model_->named_parameters(true)) targets.emplace(p.key(), p.value());
  for (const auto& b : model_->named_buffers(true)) targets.emplace(b.key(), b.value());
  if (state.size() != targets.size())
    fail("E_CONFIG", "state",
         "has " + std::to_string(state.size()) + " entries, the " + options_.name + " model " +
             std::to_string(targets.size()) + ": the weights come from another config");
  at::NoGradGuard no_grad;
  for (const auto& [name, src] : state) {
    auto it = targets.find(name);
    if (it == targets.end())
      fail("E_CONFIG", "state",
           "has " + name + ", which the " + options_.name + " model lacks: the weights come from another config");
    if (!src.sizes().equals(it->second.sizes()))
      fail("E_CONFIG", "state",
           name + " has shape " + c10::str(src.sizes()) + ", the model's is " + c10::str(it->second.sizes()) +
               ": the weights come from another config");
    it->second.copy_(src);
  }
}

void InferenceModel::save(const std::string& path) const {
  train::write_atomically(path, train::torch_file_bytes(c10::IValue(train::tensor_dict(state()))));
}

}  // namespace mvface::model
