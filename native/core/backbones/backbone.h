#pragma once
// Face-recognition backbones on libtorch's C++ frontend. Module and parameter names follow the
// reference PyTorch code, and python/mvface_backbones.py is the twin of each, so a state dict
// exchanges with PyTorch by key.
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace mvface::backbones {

// Every field is given by the caller (TypeScript resolves the defaults).
struct BackboneOptions {
  // mobilefacenet | iresnet18 | iresnet34 | iresnet50 | iresnet100 | attention56 | small
  std::string name;
  int64_t embedding_size = 0;
  // Face backbones: a multiple of 16 (112 as trained by the references). small: 8 to 64.
  int64_t input_size = 0;
  int64_t in_channels = 0;
  std::string block;     // iresnet*: "ir" or "ir_se" (squeeze-excitation in each block)
  double dropout = 0.0;  // before the embedding layer (iresnet*, attention56, small)
  std::string norm;      // small only: "none" puts identities where the batch norms were
};

struct Backbone : torch::nn::Module {
  // images: N x in_channels x input_size x input_size float32; returns N x embedding_size raw
  // (not normalised) embeddings.
  virtual at::Tensor forward(const at::Tensor& images) = 0;
};

// Throws E_CONFIG (argument "backbone") for an unknown name or an option out of range.
void validate_options(const BackboneOptions& options);

// Validates, builds and initialises the model (conv: kaiming normal, fan out; BN: weight 1, bias 0).
std::shared_ptr<Backbone> make_backbone(const BackboneOptions& options);
// The same after at::manual_seed(seed), one seeded build at a time (concurrent builds would
// interleave draws from the global generator).
std::shared_ptr<Backbone> make_seeded_backbone(const BackboneOptions& options, uint64_t seed);

const std::vector<std::string>& backbone_names();

// The trainable parameters split for SGD: BN weights and biases and every bias get no weight decay.
// Frozen parameters (requires_grad false, e.g. iresnet's features.weight) are in neither list.
std::vector<at::Tensor> decay_parameters(Backbone& model);
std::vector<at::Tensor> no_decay_parameters(Backbone& model);

// Every parameter, frozen ones included (PyTorch's sum(p.numel() for p in model.parameters())).
int64_t parameter_count(Backbone& model);

}  // namespace mvface::backbones
