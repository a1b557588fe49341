// Attention-56, the backbone of the MV-Softmax paper: the Residual Attention Network of FaceX-Zoo's
// AttentionNets.py (stage counts 1, 1, 1; its module names), with IR-SE bottleneck residual units and a
// BN-Dropout-FC-BN embedding layer.
#include <functional>

#include "backbones/layers.h"

namespace mvface::backbones {
namespace {

namespace nn = torch::nn;

// BN-conv1x1-BN-PReLU-conv3x3(stride)-BN-PReLU-conv1x1-BN-SE, plus the identity or a conv1x1-BN shortcut.
struct ResidualUnit : nn::Module {
  ResidualUnit(int64_t in, int64_t out, int64_t stride = 1) {
    const int64_t mid = out / 4;
    bn1 = register_module("bn1", batch_norm(in));
    conv1 = register_module("conv1", conv(in, mid, 1));
    bn2 = register_module("bn2", batch_norm(mid));
    prelu1 = register_module("prelu1", prelu(mid));
    conv2 = register_module("conv2", conv(mid, mid, 3, stride, 1));
    bn3 = register_module("bn3", batch_norm(mid));
    prelu2 = register_module("prelu2", prelu(mid));
    conv3 = register_module("conv3", conv(mid, out, 1));
    bn4 = register_module("bn4", batch_norm(out));
    se = register_module("se", std::make_shared<SEModule>(out));
    if (stride != 1 || in != out) {
      shortcut = register_module("shortcut", projection_shortcut(in, out, stride));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = prelu1(bn2(conv1(bn1(x))));
    y = prelu2(bn3(conv2(y)));
    y = se->forward(bn4(conv3(y)));
    return y + (shortcut ? shortcut->forward(x) : x);
  }
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, bn4{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::PReLU prelu1{nullptr}, prelu2{nullptr};
  std::shared_ptr<SEModule> se;
  nn::Sequential shortcut{nullptr};
};

at::Tensor upsample_to(const at::Tensor& x, const at::Tensor& like) {
  return at::upsample_bilinear2d(x, {like.size(2), like.size(3)}, /*align_corners=*/true);
}

// FaceX-Zoo's AttentionModule_stage1/2/3 for levels = 3/2/1: a trunk of two units and a soft mask that
// max-pools `levels` times, comes back up by bilinear upsampling with skip connections, and ends in
// BN-ReLU-conv-BN-ReLU-conv-sigmoid. Output: last_blocks((1 + mask) * trunk).
struct AttentionModule : nn::Module {
  AttentionModule(int64_t channels, int levels) : channels(channels), levels(levels) {
    first = register_module("first_residual_blocks", unit());
    trunk = register_module("trunk_branches", nn::Sequential(unit(), unit()));
    for (int i = 1; i < levels; ++i) {
      down_blocks.push_back(as_function(register_module(block_name(i), unit())));
      skips.push_back(register_module("skip" + std::to_string(i) + "_connection_residual_block", unit()));
    }
    down_blocks.push_back(as_function(register_module(block_name(levels), nn::Sequential(unit(), unit()))));
    for (int i = levels + 1; i < 2 * levels; ++i) up_blocks.push_back(register_module(block_name(i), unit()));
    mask =
        register_module(block_name(2 * levels),
                        nn::Sequential(batch_norm(channels), nn::ReLU(), conv(channels, channels, 1),
                                       batch_norm(channels), nn::ReLU(), conv(channels, channels, 1), nn::Sigmoid()));
    last = register_module("last_blocks", unit());
  }

  at::Tensor forward(const at::Tensor& input) {
    at::Tensor x = first->forward(input);
    at::Tensor trunk_out = trunk->forward(x);
    // Down the mask branch; every level but the coarsest also feeds a skip connection.
    std::vector<at::Tensor> level(levels), skip(levels - 1);
    for (int i = 0; i < levels; ++i) {
      level[i] = down_blocks[i](at::max_pool2d(i == 0 ? x : level[i - 1], {3, 3}, {2, 2}, {1, 1}));
      if (i + 1 < levels) skip[i] = skips[i]->forward(level[i]);
    }
    // Back up: upsample to the finer level, add its output and its skip, then an up unit.
    at::Tensor out = level.back();
    for (int i = levels - 2, u = 0; i >= 0; --i, ++u) {
      out = up_blocks[u]->forward(upsample_to(out, level[i]) + level[i] + skip[i]);
    }
    at::Tensor m = mask->forward(upsample_to(out, trunk_out) + trunk_out);
    return last->forward((1 + m) * trunk_out);
  }

 private:
  std::shared_ptr<ResidualUnit> unit() const { return std::make_shared<ResidualUnit>(channels, channels); }
  static std::string block_name(int i) { return "softmax" + std::to_string(i) + "_blocks"; }
  template <typename M>
  static std::function<at::Tensor(const at::Tensor&)> as_function(M module) {
    return [module](const at::Tensor& x) { return module->forward(x); };
  }

  int64_t channels;
  int levels;
  std::shared_ptr<ResidualUnit> first, last;
  nn::Sequential trunk{nullptr}, mask{nullptr};
  std::vector<std::function<at::Tensor(const at::Tensor&)>> down_blocks;  // the coarsest level has two units
  std::vector<std::shared_ptr<ResidualUnit>> skips, up_blocks;
};

struct Attention56 : Backbone {
  explicit Attention56(const BackboneOptions& o) {
    conv1 = register_module("conv1", nn::Sequential(conv(o.in_channels, 64, 7, 2, 3), batch_norm(64), prelu(64)));
    attention_body = register_module(
        "attention_body",
        nn::Sequential(std::make_shared<ResidualUnit>(64, 256), std::make_shared<AttentionModule>(256, 3),
                       std::make_shared<ResidualUnit>(256, 512, 2), std::make_shared<AttentionModule>(512, 2),
                       std::make_shared<ResidualUnit>(512, 1024, 2), std::make_shared<AttentionModule>(1024, 1),
                       std::make_shared<ResidualUnit>(1024, 2048, 2), std::make_shared<ResidualUnit>(2048, 2048),
                       std::make_shared<ResidualUnit>(2048, 2048)));
    output_layer = register_module("output_layer", embedding_layer(2048, o.input_size / 16, o));
  }
  at::Tensor forward(const at::Tensor& images) override {
    return output_layer->forward(attention_body->forward(conv1->forward(images)));
  }
  nn::Sequential conv1{nullptr}, attention_body{nullptr}, output_layer{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_attention56(const BackboneOptions& options) {
  return std::make_shared<Attention56>(options);
}

}  // namespace mvface::backbones
