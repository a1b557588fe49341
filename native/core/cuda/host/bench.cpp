#include "cuda/host/bench.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "cuda/host/fused_loss.h"
#include "cuda/host/memory.h"
#include "errors.h"
#include "loss/loss.h"

namespace mvface::cuda {
namespace {

using Outputs = std::vector<at::Tensor>;  // kept alive until the step has been measured
using Step = std::function<Outputs()>;

constexpr int64_t kBenchChunk = 65536;  // classes per chunk of the "chunked" variant

struct Problem {
  at::Tensor x, W, labels;
  at::Tensor xhat, what;  // unit rows, for the floor
};

Problem random_problem(int64_t B, int64_t D, int64_t C, bool with_unit_rows) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  Problem p;
  p.x = at::randn({B, D}, f32);
  p.W = at::randn({C, D}, f32);
  p.labels = at::randint(C, {B}, f32.dtype(at::kLong));
  if (with_unit_rows) {
    p.xhat = p.x / p.x.norm(2, {1}, true);
    p.what = p.W / p.W.norm(2, {1}, true);
  }
  return p;
}

Step step_for(const std::string& variant, const loss::LossConfig& config, const Problem& p) {
  if (variant == "fused")
    return [&config, &p] {
      const loss::LossResult r = loss::fused_loss(config, p.x, p.W, p.labels);
      return Outputs{r.grad_embeddings, r.grad_weight};
    };
  if (variant == "chunked")
    return [&config, &p] {
      loss::FusedOptions options;
      options.block_classes = kBenchChunk;
      const loss::LossResult r = fused_loss_cuda(config, p.x, p.W, p.labels, options);
      return Outputs{r.grad_embeddings, r.grad_weight};
    };
  if (variant == "floor")
    return [&p] {
      at::Tensor buffer = at::empty({p.x.size(0), p.W.size(0)}, p.x.options());
      at::Tensor grad_x = at::empty_like(p.xhat), grad_w = at::empty_like(p.what);
      loss::gemm_floor(p.xhat, p.what, buffer, grad_x, grad_w);
      return Outputs{grad_x, grad_w};
    };
  fail("E_CONFIG", "variants", "unknown variant '" + variant + "' (expected fused, chunked or floor)");
}

double step_ms(const Step& step) {
  c10::cuda::device_synchronize();
  const auto start = std::chrono::steady_clock::now();
  const Outputs out = step();
  c10::cuda::device_synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int64_t step_peak_extra_bytes(const Step& step) {
  c10::cuda::device_synchronize();
  const int64_t before = memory_stats().allocated;
  reset_peak_memory();
  const Outputs out = step();
  c10::cuda::device_synchronize();
  int64_t output_bytes = 0;
  for (const at::Tensor& t : out) output_bytes += t.numel() * t.element_size();
  return memory_stats().peak_allocated - before - output_bytes;
}

}  // namespace

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::vector<TimedVariant> time_loss_cuda(const loss::LossConfig& config, int64_t B, int64_t D, int64_t C, int repeats,
                                         const std::vector<std::string>& variants) {
  if (B < 1 || D < 1 || C < 2 || repeats < 1) fail("E_CONFIG", "size", "needs B, D, repeats >= 1 and C >= 2");
  const bool floor = std::find(variants.begin(), variants.end(), "floor") != variants.end();
  const Problem p = random_problem(B, D, C, floor);
  std::vector<Step> steps;
  std::vector<TimedVariant> out;
  for (const std::string& v : variants) {
    steps.push_back(step_for(v, config, p));
    out.push_back({v, 0.0, 0});
  }
  std::vector<std::vector<double>> times(steps.size());
  for (const Step& step : steps) step_ms(step);  // warm-up: cuBLAS handles and workspaces, the cache
  for (size_t i = 0; i < steps.size(); ++i) out[i].peak_extra_bytes = step_peak_extra_bytes(steps[i]);
  for (int r = 0; r < repeats; ++r)
    for (size_t i = 0; i < steps.size(); ++i) times[i].push_back(step_ms(steps[i]));
  for (size_t i = 0; i < steps.size(); ++i) out[i].median_ms = median(times[i]);
  return out;
}

}  // namespace mvface::cuda
