#pragma once
// Building blocks shared by the backbones, and the builder of each family (internal to backbones/).
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "backbones/backbone.h"

namespace mvface::backbones {

// Conv2d without bias, as every reference backbone uses before a BN.
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
                       int64_t groups = 1);
torch::nn::BatchNorm2d batch_norm(int64_t channels);

// A 1x1 convolution of stride s computed as the 1x1 convolution of stride 1 on every s-th row and
// column: the same function, and the same parameter ("weight") as the strided Conv2d. oneDNN 3.x
// (libtorch 2.x) divides by zero in the backward of strided 1x1 convolutions with many channels on
// some processors (SIGFPE).
struct SubsampledPointwiseImpl : torch::nn::Conv2dImpl {
  SubsampledPointwiseImpl(int64_t in, int64_t out, int64_t stride);
  at::Tensor forward(const at::Tensor& x);
  int64_t stride;
};
TORCH_MODULE(SubsampledPointwise);

// conv1x1(stride) - BN: the projection shortcut of the residual blocks.
torch::nn::Sequential projection_shortcut(int64_t in, int64_t out, int64_t stride);
torch::nn::PReLU prelu(int64_t channels);

// FaceX-Zoo's SEModule: x * sigmoid(fc2(relu(fc1(avgpool(x))))), fc1/fc2 1x1 convs without bias.
struct SEModule : torch::nn::Module {
  SEModule(int64_t channels, int64_t reduction = 16);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d fc1{nullptr}, fc2{nullptr};
};

// BN2d - Dropout - Flatten - Linear(channels * spatial^2 -> embedding) - BN1d.
torch::nn::Sequential embedding_layer(int64_t channels, int64_t spatial, const BackboneOptions& options);

std::shared_ptr<Backbone> make_mobilefacenet(const BackboneOptions& options);
std::shared_ptr<Backbone> make_iresnet(int64_t depth, const BackboneOptions& options);
std::shared_ptr<Backbone> make_attention56(const BackboneOptions& options);
std::shared_ptr<Backbone> make_small(const BackboneOptions& options);

}  // namespace mvface::backbones
