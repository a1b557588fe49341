#include "cuda/host/norm_bench.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/autograd/autograd.h>

#include <chrono>

#include "backbones/norm_act.h"
#include "cuda/host/bench.h"
#include "cuda/host/memory.h"
#include "errors.h"
#include "train/precision.h"

namespace mvface::cuda {
namespace {

constexpr int kStepsPerSample = 10;

struct Layer {
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::PReLU prelu{nullptr};
  at::Tensor x, residual, grad;
};

Layer make_layer(const NormBenchCase& c) {
  Layer l;
  l.bn = torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c.C));
  if (c.prelu) l.prelu = torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(c.C));
  l.bn->to(at::kCUDA);
  if (c.prelu) l.prelu->to(at::kCUDA);
  const auto options = at::TensorOptions().device(at::kCUDA).dtype(c.bf16 ? at::kBFloat16 : at::kFloat);
  const auto format = c.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  auto random = [&] { return at::randn({c.N, c.C, c.H, c.W}, options).contiguous(format); };
  l.x = random().requires_grad_(true);
  if (c.residual) l.residual = random().requires_grad_(true);
  l.grad = random();
  return l;
}

at::Tensor forward(Layer& l, bool fused, const NormBenchCase& c) {
  train::AutocastScope autocast(at::kCUDA, c.bf16 ? train::Precision::Bf16 : train::Precision::Fp32);
  return backbones::norm_act(l.x, l.bn, l.prelu, l.residual, fused);
}

void backward(Layer& l, const at::Tensor& y) {
  std::vector<at::Tensor> inputs = {l.x, l.bn->weight, l.bn->bias};
  if (l.residual.defined()) inputs.push_back(l.residual);
  if (!l.prelu.is_empty()) inputs.push_back(l.prelu->weight);
  torch::autograd::grad({y}, inputs, {l.grad});
}

// One forward (autocast, as the trainer's) and its backward.
void step(Layer& l, bool fused, const NormBenchCase& c) { backward(l, forward(l, fused, c)); }

// What the forward keeps for the backward: the allocator's growth beyond the output.
int64_t saved_bytes(Layer& l, bool fused, const NormBenchCase& c) {
  c10::cuda::device_synchronize();
  const int64_t before = memory_stats().allocated;
  const at::Tensor y = forward(l, fused, c);
  const int64_t saved = memory_stats().allocated - before - y.numel() * y.element_size();
  backward(l, y);
  return saved;
}

double sample_ms(Layer& l, bool fused, const NormBenchCase& c) {
  c10::cuda::device_synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kStepsPerSample; ++i) step(l, fused, c);
  c10::cuda::device_synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kStepsPerSample;
}

}  // namespace

std::vector<NormTiming> time_norm_cuda(const NormBenchCase& c) {
  if (c.N < 1 || c.C < 1 || c.H < 1 || c.W < 1 || c.repeats < 1 || c.N * c.H * c.W < 2)
    fail("E_CONFIG", "size", "needs N, C, H, W, repeats >= 1 and more than one value per channel");
  Layer l = make_layer(c);
  std::vector<NormTiming> out = {{"modules", 0, 0}, {"fused", 0, 0}};
  std::vector<std::vector<double>> times(2);
  for (int v = 0; v < 2; ++v) {
    step(l, v == 1, c);  // warm-up: cuDNN, kernels loaded, the allocator's blocks
    out[v].saved_bytes = saved_bytes(l, v == 1, c);
  }
  for (int r = 0; r < c.repeats; ++r)
    for (int v = 0; v < 2; ++v) times[v].push_back(sample_ms(l, v == 1, c));
  for (int v = 0; v < 2; ++v) out[v].median_ms = median(times[v]);
  return out;
}

}  // namespace mvface::cuda
