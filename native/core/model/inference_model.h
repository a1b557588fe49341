#pragma once
// A trained backbone on its own, for embedding: no data, no class head, no optimizer state. Its
// weights come from a model.pt (a state dict), a checkpoint.pt (its "model" entry), a fresh seeded
// initialisation, or a state dict handed over in memory.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "backbones/backbone.h"

namespace mvface::model {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class InferenceModel {
 public:
  // Weights from `path`; E_IO for an unreadable file, E_CONFIG when its keys or shapes are another
  // architecture's.
  InferenceModel(const backbones::BackboneOptions& options, const std::string& path, const std::string& device);
  // The seeded initialisation the trainer starts from.
  InferenceModel(const backbones::BackboneOptions& options, uint64_t seed, const std::string& device);

  // images: N x in_channels x input_size x input_size float32 on the CPU; returns N x embedding_size
  // raw embeddings (eval mode) on the CPU.
  at::Tensor embed(const at::Tensor& images) const;

  // Every parameter and buffer by its PyTorch name, as contiguous CPU copies.
  NamedTensors state() const;
  // Replaces every entry (same names and shapes as state(); E_CONFIG otherwise).
  void set_state(const NamedTensors& state);
  // model.pt: the state as a file torch.load reads.
  void save(const std::string& path) const;

  const backbones::BackboneOptions& options() const { return options_; }

 private:
  void build(const std::string& device);

  backbones::BackboneOptions options_;
  std::shared_ptr<backbones::Backbone> model_;
  mutable std::shared_mutex lock_;  // embed() shares it, set_state() excludes
};

}  // namespace mvface::model
