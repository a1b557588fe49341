// MobileFaceNet (FaceX-Zoo's MobileFaceNets.py) and IResNet-18/34/50/100 (insightface arcface_torch's
// iresnet.py, with FaceX-Zoo's SE module for block "ir_se"), module names as in those files.
#include "backbones/layers.h"
#include "backbones/norm_act.h"

namespace mvface::backbones {
namespace {

namespace nn = torch::nn;

const nn::PReLU kNoPrelu{nullptr};

// Conv_block (conv-BN-PReLU) or, when linear, Linear_block (conv-BN).
struct ConvBlock : nn::Module, FusableNorm {
  ConvBlock(int64_t in, int64_t out, int64_t kernel = 1, int64_t stride = 1, int64_t padding = 0, int64_t groups = 1,
            bool linear = false) {
    conv = register_module("conv", backbones::conv(in, out, kernel, stride, padding, groups));
    bn = register_module("bn", batch_norm(out));
    if (!linear) prelu = register_module("prelu", backbones::prelu(out));
  }
  at::Tensor forward(const at::Tensor& x) { return forward_add(x, {}); }
  // The block's output + residual (when defined).
  at::Tensor forward_add(const at::Tensor& x, const at::Tensor& residual) {
    return norm_act(conv->forward(x), bn, prelu, residual, fused_norm);
  }
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  nn::PReLU prelu{nullptr};
};

// Depth_Wise: 1x1 expand to `groups` channels, depthwise 3x3, linear 1x1 projection.
struct DepthWise : nn::Module {
  DepthWise(int64_t in, int64_t out, int64_t groups, int64_t stride, bool residual) : residual(residual) {
    conv = register_module("conv", std::make_shared<ConvBlock>(in, groups));
    conv_dw = register_module("conv_dw", std::make_shared<ConvBlock>(groups, groups, 3, stride, 1, groups));
    project = register_module("project", std::make_shared<ConvBlock>(groups, out, 1, 1, 0, 1, true));
  }
  at::Tensor forward(const at::Tensor& x) {
    return project->forward_add(conv_dw->forward(conv->forward(x)), residual ? x : at::Tensor());
  }
  std::shared_ptr<ConvBlock> conv, conv_dw, project;
  bool residual;
};

struct Residual : nn::Module {
  Residual(int64_t channels, int blocks, int64_t groups) {
    model = register_module("model", nn::Sequential());
    for (int i = 0; i < blocks; ++i) model->push_back(std::make_shared<DepthWise>(channels, channels, groups, 1, true));
  }
  at::Tensor forward(const at::Tensor& x) { return model->forward(x); }
  nn::Sequential model{nullptr};
};

struct MobileFaceNet : Backbone {
  explicit MobileFaceNet(const BackboneOptions& o) {
    const int64_t out = o.input_size / 16;
    add("conv1", std::make_shared<ConvBlock>(o.in_channels, 64, 3, 2, 1));
    add("conv2_dw", std::make_shared<ConvBlock>(64, 64, 3, 1, 1, 64));
    add("conv_23", std::make_shared<DepthWise>(64, 64, 128, 2, false));
    add("conv_3", std::make_shared<Residual>(64, 4, 128));
    add("conv_34", std::make_shared<DepthWise>(64, 128, 256, 2, false));
    add("conv_4", std::make_shared<Residual>(128, 6, 256));
    add("conv_45", std::make_shared<DepthWise>(128, 128, 512, 2, false));
    add("conv_5", std::make_shared<Residual>(128, 2, 256));
    add("conv_6_sep", std::make_shared<ConvBlock>(128, 512));
    add("conv_6_dw", std::make_shared<ConvBlock>(512, 512, out, 1, 0, 512, true));  // linear GDConv
    linear = register_module("linear", nn::Linear(nn::LinearOptions(512, o.embedding_size).bias(false)));
    bn = register_module("bn", nn::BatchNorm1d(nn::BatchNorm1dOptions(o.embedding_size)));
  }
  template <typename M>
  void add(const std::string& name, std::shared_ptr<M> module) {
    body.emplace_back(register_module(name, module));
  }
  at::Tensor forward(const at::Tensor& images) override {
    at::Tensor x = images;
    for (auto& module : body) x = module.forward(x);
    return bn->forward(linear->forward(x.flatten(1)));
  }
  std::vector<nn::AnyModule> body;
  nn::Linear linear{nullptr};
  nn::BatchNorm1d bn{nullptr};
};

// IBasicBlock: BN-conv3x3-BN-PReLU-conv3x3(stride)-BN [-SE], plus the identity or a conv1x1-BN downsample.
struct IBasicBlock : nn::Module, FusableNorm {
  IBasicBlock(int64_t inplanes, int64_t planes, int64_t stride, bool with_se) {
    bn1 = register_module("bn1", batch_norm(inplanes));
    conv1 = register_module("conv1", conv(inplanes, planes, 3, 1, 1));
    bn2 = register_module("bn2", batch_norm(planes));
    prelu = register_module("prelu", backbones::prelu(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
    bn3 = register_module("bn3", batch_norm(planes));
    if (with_se) se = register_module("se", std::make_shared<SEModule>(planes));
    if (stride != 1 || inplanes != planes) {
      downsample = register_module("downsample", projection_shortcut(inplanes, planes, stride));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor y = conv2(norm_act(conv1(norm_act(x, bn1, kNoPrelu, {}, fused_norm)), bn2, prelu, {}, fused_norm));
    const at::Tensor shortcut = downsample ? downsample->forward(x) : x;
    if (se) return se->forward(bn3(y)) + shortcut;
    return norm_act(y, bn3, kNoPrelu, shortcut, fused_norm);
  }
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::PReLU prelu{nullptr};
  std::shared_ptr<SEModule> se;
  nn::Sequential downsample{nullptr};
};

std::vector<int> iresnet_layers(int64_t depth) {
  switch (depth) {
    case 18:
      return {2, 2, 2, 2};
    case 34:
      return {3, 4, 6, 3};
    case 50:
      return {3, 4, 14, 3};
    default:
      return {3, 13, 30, 3};  // 100
  }
}

struct IResNet : Backbone, FusableNorm {
  IResNet(int64_t depth, const BackboneOptions& o) {
    conv1 = register_module("conv1", conv(o.in_channels, 64, 3, 1, 1));
    bn1 = register_module("bn1", batch_norm(64));
    prelu = register_module("prelu", backbones::prelu(64));
    const std::vector<int> blocks = iresnet_layers(depth);
    const bool se = o.block == "ir_se";
    int64_t inplanes = 64;
    for (int i = 0; i < 4; ++i) {
      const int64_t planes = int64_t{64} << i;
      nn::Sequential layer;
      layer->push_back(std::make_shared<IBasicBlock>(inplanes, planes, 2, se));
      for (int b = 1; b < blocks[i]; ++b) layer->push_back(std::make_shared<IBasicBlock>(planes, planes, 1, se));
      layers[i] = register_module("layer" + std::to_string(i + 1), layer);
      inplanes = planes;
    }
    const int64_t out = o.input_size / 16;
    bn2 = register_module("bn2", batch_norm(512));
    dropout = register_module("dropout", nn::Dropout(nn::DropoutOptions(o.dropout)));
    fc = register_module("fc", nn::Linear(512 * out * out, o.embedding_size));
    features = register_module("features", nn::BatchNorm1d(nn::BatchNorm1dOptions(o.embedding_size)));
  }
  at::Tensor forward(const at::Tensor& images) override {
    at::Tensor x = norm_act(conv1(images), bn1, prelu, {}, fused_norm);
    for (auto& layer : layers) x = layer->forward(x);
    x = dropout(norm_act(x, bn2, kNoPrelu, {}, fused_norm).flatten(1));
    return features(fc(x));
  }
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::PReLU prelu{nullptr};
  nn::Sequential layers[4] = {nullptr, nullptr, nullptr, nullptr};
  nn::Dropout dropout{nullptr};
  nn::Linear fc{nullptr};
  nn::BatchNorm1d features{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_mobilefacenet(const BackboneOptions& options) {
  return std::make_shared<MobileFaceNet>(options);
}

// arcface_torch fixes the embedding BN's scale at 1: features.weight is frozen.
std::shared_ptr<Backbone> make_iresnet(int64_t depth, const BackboneOptions& options) {
  auto model = std::make_shared<IResNet>(depth, options);
  model->features->weight.set_requires_grad(false);
  return model;
}

}  // namespace mvface::backbones
