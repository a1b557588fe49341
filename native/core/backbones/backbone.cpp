// The backbone factory, option checks, initialisation, parameter groups, shared layers, and the small
// CNN for 28x28 / 32x32 inputs.
#include <torch/nn/init.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "backbones/layers.h"
#include "errors.h"

namespace mvface::backbones {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t groups) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).groups(groups).bias(false));
}

nn::BatchNorm2d batch_norm(int64_t channels) { return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels)); }

SubsampledPointwiseImpl::SubsampledPointwiseImpl(int64_t in, int64_t out, int64_t stride)
    : nn::Conv2dImpl(nn::Conv2dOptions(in, out, 1).bias(false)), stride(stride) {}

at::Tensor SubsampledPointwiseImpl::forward(const at::Tensor& x) {
  if (stride == 1) return nn::Conv2dImpl::forward(x);
  return nn::Conv2dImpl::forward(x.slice(2, 0, c10::nullopt, stride).slice(3, 0, c10::nullopt, stride));
}

nn::Sequential projection_shortcut(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(SubsampledPointwise(in, out, stride), batch_norm(out));
}

nn::PReLU prelu(int64_t channels) { return nn::PReLU(nn::PReLUOptions().num_parameters(channels)); }

SEModule::SEModule(int64_t channels, int64_t reduction) {
  fc1 = register_module("fc1", conv(channels, channels / reduction, 1));
  fc2 = register_module("fc2", conv(channels / reduction, channels, 1));
}

at::Tensor SEModule::forward(const at::Tensor& x) {
  at::Tensor w = at::adaptive_avg_pool2d(x, {1, 1});
  return x * at::sigmoid(fc2->forward(at::relu(fc1->forward(w))));
}

nn::Sequential embedding_layer(int64_t channels, int64_t spatial, const BackboneOptions& options) {
  if (options.norm == "none")
    return nn::Sequential(nn::Identity(), nn::Dropout(nn::DropoutOptions(options.dropout)), nn::Flatten(),
                          nn::Linear(channels * spatial * spatial, options.embedding_size), nn::Identity());
  return nn::Sequential(batch_norm(channels), nn::Dropout(nn::DropoutOptions(options.dropout)), nn::Flatten(),
                        nn::Linear(channels * spatial * spatial, options.embedding_size),
                        nn::BatchNorm1d(nn::BatchNorm1dOptions(options.embedding_size)));
}

namespace {

// Three conv3x3-BN-PReLU-maxpool2 stages (32, 64, 128 channels), then the embedding layer. With norm
// "none" (no batch statistics: data-parallel training then equals one process on the whole batch)
// each BN is an identity.
struct SmallNet : Backbone {
  explicit SmallNet(const BackboneOptions& o) {
    const int64_t widths[] = {o.in_channels, 32, 64, 128};
    for (int i = 0; i < 3; ++i) {
      nn::AnyModule norm = o.norm == "none" ? nn::AnyModule(nn::Identity()) : nn::AnyModule(batch_norm(widths[i + 1]));
      stages[i] = register_module("stage" + std::to_string(i + 1), nn::Sequential());
      stages[i]->push_back(conv(widths[i], widths[i + 1], 3, 1, 1));
      stages[i]->push_back(std::move(norm));
      stages[i]->push_back(prelu(widths[i + 1]));
      stages[i]->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    }
    output_layer = register_module("output_layer", embedding_layer(128, o.input_size / 8, o));
  }
  at::Tensor forward(const at::Tensor& images) override {
    at::Tensor x = images;
    for (auto& stage : stages) x = stage->forward(x);
    return output_layer->forward(x);
  }
  nn::Sequential stages[3] = {nullptr, nullptr, nullptr};
  nn::Sequential output_layer{nullptr};
};

void init_parameters(nn::Module& model) {
  for (const auto& m : model.modules()) {
    if (auto* c = m->as<nn::Conv2dImpl>()) {
      nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2dImpl>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    } else if (auto* b1 = m->as<nn::BatchNorm1dImpl>()) {
      nn::init::ones_(b1->weight);
      nn::init::zeros_(b1->bias);
    }
  }
}

std::unordered_set<const void*> batch_norm_parameters(Backbone& model) {
  std::unordered_set<const void*> found;
  for (const auto& m : model.modules()) {
    if (m->as<nn::BatchNorm2dImpl>() || m->as<nn::BatchNorm1dImpl>()) {
      for (const auto& p : m->parameters(false)) found.insert(p.unsafeGetTensorImpl());
    }
  }
  return found;
}

std::vector<at::Tensor> parameter_group(Backbone& model, bool decay) {
  const auto bn = batch_norm_parameters(model);
  std::vector<at::Tensor> group;
  for (const auto& item : model.named_parameters()) {
    const at::Tensor& p = item.value();
    if (!p.requires_grad()) continue;
    const std::string& key = item.key();
    const bool is_bias = key.size() >= 4 && key.compare(key.size() - 4, 4, "bias") == 0;
    const bool no_decay = is_bias || bn.count(p.unsafeGetTensorImpl()) > 0;
    if (no_decay != decay) group.push_back(p);
  }
  return group;
}

std::shared_ptr<Backbone> build(const BackboneOptions& o) {
  if (o.name == "mobilefacenet") return make_mobilefacenet(o);
  if (o.name == "attention56") return make_attention56(o);
  if (o.name == "small") return make_small(o);
  return make_iresnet(std::stoll(o.name.substr(7)), o);
}

}  // namespace

std::shared_ptr<Backbone> make_small(const BackboneOptions& options) { return std::make_shared<SmallNet>(options); }

const std::vector<std::string>& backbone_names() {
  static const std::vector<std::string> names = {"mobilefacenet", "iresnet18",   "iresnet34", "iresnet50",
                                                 "iresnet100",    "attention56", "small"};
  return names;
}

void validate_options(const BackboneOptions& o) {
  const auto& names = backbone_names();
  if (std::find(names.begin(), names.end(), o.name) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    fail("E_CONFIG", "backbone", "unknown backbone '" + o.name + "' (expected " + list + ")");
  }
  const bool small = o.name == "small";
  if (o.embedding_size < 1 || o.embedding_size > 65536)
    fail("E_CONFIG", "backbone", "embeddingSize must be in [1, 65536]");
  if (o.in_channels < 1 || o.in_channels > 64) fail("E_CONFIG", "backbone", "inChannels must be in [1, 64]");
  if (!(o.dropout >= 0 && o.dropout < 1)) fail("E_CONFIG", "backbone", "dropout must be in [0, 1)");
  if (o.norm != "batch" && o.norm != "none")
    fail("E_CONFIG", "backbone", "norm must be 'batch' or 'none', got '" + o.norm + "'");
  if (o.norm == "none" && !small) fail("E_CONFIG", "backbone", "norm 'none' is for the small backbone only");
  if (o.block != "ir" && o.block != "ir_se") {
    fail("E_CONFIG", "backbone", "block must be 'ir' or 'ir_se', got '" + o.block + "'");
  }
  const int64_t s = o.input_size;
  const bool ok = small ? s >= 8 && s <= 64 : s >= 16 && s <= 512 && s % 16 == 0;
  if (!ok) {
    fail("E_CONFIG", "backbone",
         "inputSize " + std::to_string(s) + " is not supported by " + o.name + ": use " +
             (small ? "8 to 64 (28 or 32 as intended)" : "a multiple of 16 from 16 to 512 (the references use 112)"));
  }
}

std::shared_ptr<Backbone> make_backbone(const BackboneOptions& options) {
  validate_options(options);
  std::shared_ptr<Backbone> model = build(options);
  init_parameters(*model);
  return model;
}

std::shared_ptr<Backbone> make_seeded_backbone(const BackboneOptions& options, uint64_t seed) {
  static std::mutex seeded_build;
  std::lock_guard<std::mutex> lock(seeded_build);
  at::manual_seed(seed);
  return make_backbone(options);
}

std::vector<at::Tensor> decay_parameters(Backbone& model) { return parameter_group(model, true); }
std::vector<at::Tensor> no_decay_parameters(Backbone& model) { return parameter_group(model, false); }

int64_t parameter_count(Backbone& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

}  // namespace mvface::backbones
