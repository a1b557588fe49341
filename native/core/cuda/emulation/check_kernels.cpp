// The CUDA driver (cuda/host/fused_loss.cpp, built with MVFACE_CUDA_EMULATION) with its kernels run
// on the CPU by emulate.h, against the fused CPU path, for every head type, MV mode, easy margin and
// mining, and for row layouts that take the vector and scalar loads over several blocks per row; and
// the class-chunked driver on every head, against the CPU and the unchunked driver; each check() also
// runs the capturable driver (FusedOptions::capturable, statistics on the device). Inputs whose data
// start one element into their storage, and chunks whose column scales start off 16 bytes, check that
// the driver takes the scalar loads there (the emulation aborts on a misaligned vector access). Every
// case runs under each thread order of emulation::orders().
// Built and run by scripts/check-cuda-emulated.sh; exits 1 on a mismatch.
#include "cuda/emulation/emulate.h"
// The kernels, after the emulation's definitions.
#include "cuda/row_kernels.cuh"
#include "cuda/row_ops.cuh"

#include <cstdio>
#include <initializer_list>
#include <random>
#include <string>

#include "cuda/host/fused_loss.h"
#include "errors.h"

namespace mvface::cuda {

// The launchers of row_kernels.cu and row_ops.cu, emulated.
cudaError_t launch_row_prepare(const RowPassArgs& a, cudaStream_t) {
  const unsigned rows = (a.B + kernels::kRowThreads - 1) / kernels::kRowThreads;
  emulation::launch(rows, kernels::kRowThreads, [&] { kernels::prepare_rows(a); });
  return cudaSuccess;
}

cudaError_t launch_chunk_stats(const RowPassArgs& a, bool last, cudaStream_t) {
  const unsigned rows = (a.B + kernels::kRowThreads - 1) / kernels::kRowThreads;
  const unsigned pieces = a.B * a.plan.segments;
  emulation::launch(pieces, kernels::kThreads,
                    [&] { a.plan.vectorized ? kernels::lse_parts<true>(a) : kernels::lse_parts<false>(a); });
  emulation::launch(rows, kernels::kRowThreads,
                    [&] { last ? kernels::merge_rows<true>(a) : kernels::merge_rows<false>(a); });
  return cudaSuccess;
}

cudaError_t launch_chunk_gradient(const RowPassArgs& a, bool last, cudaStream_t) {
  const unsigned rows = (a.B + kernels::kRowThreads - 1) / kernels::kRowThreads;
  const unsigned pieces = a.B * a.plan.segments;
  emulation::launch(pieces, kernels::kThreads,
                    [&] { a.plan.vectorized ? kernels::gradient_parts<true>(a) : kernels::gradient_parts<false>(a); });
  emulation::launch(rows, kernels::kRowThreads,
                    [&] { last ? kernels::accumulate_gradient<true>(a) : kernels::accumulate_gradient<false>(a); });
  return cudaSuccess;
}

cudaError_t launch_row_norms(const float* v, int64_t rows, int64_t D, float* norms, int, cudaStream_t) {
  const unsigned blocks = (rows + kernels::kRowsPerBlock - 1) / kernels::kRowsPerBlock;
  emulation::launch(blocks, kernels::kWarpRowThreads, [&] { kernels::row_norms(v, rows, D, norms); });
  return cudaSuccess;
}

cudaError_t launch_normalize_backward(float* grad, const float* v, const float* inv, int64_t rows, int64_t D,
                                      bool scaled, int, cudaStream_t) {
  const unsigned blocks = (rows + kernels::kRowsPerBlock - 1) / kernels::kRowsPerBlock;
  emulation::launch(blocks, kernels::kWarpRowThreads,
                    [&] { kernels::normalize_backward(grad, v, inv, rows, D, scaled); });
  return cudaSuccess;
}

}  // namespace mvface::cuda

namespace {

using mvface::loss::HeadType;
using mvface::loss::LossConfig;
using mvface::loss::LossResult;
using mvface::loss::Mining;
using mvface::loss::MvMode;

struct Problem {
  at::Tensor x, W, labels;
};

// x_i at a uniform angle in [0, pi] to W_{y_i} (as test/problems.ts 'spread'), or at random.
Problem make_problem(std::mt19937& rng, int64_t B, int64_t C, int64_t D, bool spread) {
  std::normal_distribution<float> normal;
  auto gaussian = [&](int64_t rows) {
    at::Tensor t = at::empty({rows, D});
    for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<float>()[i] = normal(rng);
    return t;
  };
  Problem p{gaussian(B), gaussian(C), at::empty({B}, at::kLong)};
  for (int64_t i = 0; i < B; ++i)
    p.labels.data_ptr<int64_t>()[i] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
  if (spread) {
    const at::Tensor wy = p.W.index_select(0, p.labels);
    const at::Tensor u = wy / wy.norm(2, {1}, true);
    at::Tensor v = p.x - u * (p.x * u).sum(1, true);
    v = v / v.norm(2, {1}, true);
    const at::Tensor theta = at::rand({B, 1}) * M_PI, scale = 0.5 + 2 * at::rand({B, 1});
    p.x = scale * (at::cos(theta) * u + at::sin(theta) * v);
  }
  return p;
}

// t's values in a new tensor whose data start `elements` elements into its storage.
at::Tensor offset_by(const at::Tensor& t, int64_t elements) {
  const at::Tensor storage = at::empty({t.numel() + elements}, t.options());
  return storage.narrow(0, elements, t.numel()).as_strided(t.sizes(), t.strides()).copy_(t);
}

// The problem with x and W one element into their storage: pointers aligned to 4 bytes, not 16.
Problem misaligned(const Problem& p) { return {offset_by(p.x, 1), offset_by(p.W, 1), p.labels}; }

// mv-arc with the values the TypeScript defaults resolve to (LossConfig holds none of its own).
LossConfig mv_arc() {
  LossConfig c;
  c.type = HeadType::MvArc;
  c.scale = 32, c.margin = 0.5, c.t = 1.2, c.mode = MvMode::Adaptive;
  c.m1 = 1.0, c.m2 = 0.3, c.m3 = 0.2;
  c.sphere_m = 4, c.sphere_lambda = 5, c.focal_gamma = 2, c.hm_ratio = 0.9;
  return c;
}

std::vector<std::pair<std::string, LossConfig>> heads() {
  auto head = [](HeadType type, double margin) {
    LossConfig c = mv_arc();
    c.type = type;
    c.margin = margin;
    return c;
  };
  std::vector<std::pair<std::string, LossConfig>> list = {{"softmax", head(HeadType::Softmax, 0)}};
  const std::pair<std::string, LossConfig> margins[] = {{"am", head(HeadType::Am, 0.35)},
                                                        {"arc", head(HeadType::Arc, 0.5)},
                                                        {"combined", head(HeadType::Combined, 0)},
                                                        {"mv-am", head(HeadType::MvAm, 0.35)},
                                                        {"mv-arc", head(HeadType::MvArc, 0.5)}};
  for (const auto& [name, base] : margins) {
    for (const bool easy : {false, true}) {
      for (const MvMode mode : {MvMode::Fixed, MvMode::Adaptive}) {
        LossConfig c = base;
        c.easy_margin = easy;
        c.mode = mode;
        c.t = mode == MvMode::Fixed ? 0.2 : 1.2;
        list.push_back({name + (easy ? " easy" : "") + (mode == MvMode::Fixed ? " fixed" : " adaptive"), c});
        if (!c.misclassified_guided()) break;
      }
    }
  }
  LossConfig sphere = head(HeadType::SphereFace, 0);
  list.push_back({"sphereface m4", sphere});
  sphere.sphere_m = 3;
  sphere.sphere_lambda = 50;
  list.push_back({"sphereface m3", sphere});
  LossConfig focal = head(HeadType::MvArc, 0.5);
  focal.mining = Mining::Focal;
  list.push_back({"mv-arc focal", focal});
  LossConfig hm = head(HeadType::MvAm, 0.35);
  hm.mode = MvMode::Fixed;
  hm.t = 0.2;
  hm.mining = Mining::HardMining;
  hm.hm_ratio = 0.75;
  list.push_back({"mv-am fixed hm", hm});
  return list;
}

double max_relative(const at::Tensor& a, const at::Tensor& b) {
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

// Compares one case; prints it when it fails. Gradients near |g| = 1 are loose in float32 on any
// device (see test/loss.test.ts), so they are compared where max |g| < 0.98.
bool same(const std::string& what, const LossResult& gpu, const LossResult& cpu, int64_t negatives, int flips,
          bool gradients) {
  const double loss = std::abs(gpu.loss - cpu.loss) / std::max(1.0, std::abs(cpu.loss));
  const double gx = max_relative(gpu.grad_embeddings, cpu.grad_embeddings);
  const double gw = max_relative(gpu.grad_weight, cpu.grad_weight);
  const double hard = std::abs(gpu.hard_fraction - cpu.hard_fraction) * negatives;
  const bool ok = loss < 1e-5 && hard < flips + 0.5 && std::abs(gpu.mean_target_cos - cpu.mean_target_cos) < 1e-6 &&
                  (!gradients || (gx < 2e-5 && gw < 2e-5)) && std::isfinite(gx) && std::isfinite(gw);
  if (!ok)
    std::printf("FAIL %s: loss %.3g (%.8g vs %.8g), grad x %.3g, grad W %.3g, hard flags %.1f apart\n", what.c_str(),
                loss, gpu.loss, cpu.loss, gx, gw, hard);
  return ok;
}

// Gradients are compared where max |g| < 0.98 (see same()).
bool compare_gradients(const Problem& p) {
  const at::Tensor wy = p.W.index_select(0, p.labels);
  const at::Tensor g = (p.x * wy).sum(1) / (p.x.norm(2, {1}) * wy.norm(2, {1}));
  return g.abs().max().item<double>() < 0.98;
}

// The capturable driver (statistics reduced on the device, no host read) as the host's result:
// mining is refused with E_CONFIG, the rest must agree with the CPU as the plain driver does.
bool check_capturable(const std::string& what, const LossConfig& config, const Problem& p, const LossResult& cpu,
                      int flips) {
  mvface::loss::FusedOptions options;
  options.capturable = true;
  if (config.mining != Mining::None) {
    try {
      mvface::cuda::fused_loss_cuda(config, p.x, p.W, p.labels, options);
    } catch (const mvface::Error& e) {
      if (e.code() == "E_CONFIG" && e.argument() == "mining") return true;
    }
    std::printf("FAIL %s capturable: mining was not refused with E_CONFIG\n", what.c_str());
    return false;
  }
  LossResult gpu = mvface::cuda::fused_loss_cuda(config, p.x, p.W, p.labels, options);
  if (!gpu.stats.defined() || gpu.stats.numel() != 3 || gpu.stats.scalar_type() != at::kDouble) {
    std::printf("FAIL %s capturable: no float64 statistics\n", what.c_str());
    return false;
  }
  gpu.loss = gpu.stats[0].item<double>();
  gpu.hard_fraction = gpu.stats[1].item<double>();
  gpu.mean_target_cos = gpu.stats[2].item<double>();
  return same(what + " capturable", gpu, cpu, p.x.size(0) * (p.W.size(0) - 1), flips, compare_gradients(p));
}

bool check(const std::string& what, const LossConfig& config, const Problem& p, int flips = 0) {
  const LossResult cpu = mvface::loss::fused_loss(config, p.x, p.W, p.labels);
  const LossResult gpu = mvface::cuda::fused_loss_cuda(config, p.x, p.W, p.labels);
  return same(what, gpu, cpu, p.x.size(0) * (p.W.size(0) - 1), flips, compare_gradients(p)) &&
         check_capturable(what, config, p, cpu, flips);
}

// The class-chunked driver (chunks of K classes) against the fused CPU path and, unless
// `cpu_only`, the unchunked driver; returns the number of failures among the chunk sizes.
int check_chunked(const std::string& what, const LossConfig& config, const Problem& p,
                  std::initializer_list<int64_t> chunks, int flips = 0, bool cpu_only = false) {
  const LossResult cpu = mvface::loss::fused_loss(config, p.x, p.W, p.labels);
  const LossResult whole = cpu_only ? cpu : mvface::cuda::fused_loss_cuda(config, p.x, p.W, p.labels);
  const int64_t negatives = p.x.size(0) * (p.W.size(0) - 1);
  const bool gradients = compare_gradients(p);
  int failures = 0;
  for (const int64_t K : chunks) {
    mvface::loss::FusedOptions options;
    options.block_classes = K;
    const LossResult gpu = mvface::cuda::fused_loss_cuda(config, p.x, p.W, p.labels, options);
    const std::string at = what + " chunk " + std::to_string(K);
    failures += !(same(at + " vs cpu", gpu, cpu, negatives, flips, gradients) &&
                  same(at + " vs unchunked", gpu, whole, negatives, flips, gradients));
  }
  return failures;
}

// Every head on small problems, random and spread; returns the failures.
int check_heads(std::mt19937& rng, int& cases) {
  int failures = 0;
  for (const auto& [name, config] : heads()) {
    for (const bool spread : {false, true}) {
      failures += !check(name + (spread ? " spread" : " random"), config, make_problem(rng, 12, 9, 16, spread));
      ++cases;
    }
  }
  return failures;
}

// Vector loads in one and two blocks per row, scalar loads in one and two (the emulation has one
// multiprocessor: rows split only past 2 x 16384 classes); then every head with x and W misaligned.
int check_layouts(std::mt19937& rng, int& cases) {
  LossConfig mv = mv_arc();
  mv.easy_margin = true;
  const struct {
    int64_t B, C, D;
  } layouts[] = {{8, 500, 32}, {2, 40'000, 4}, {3, 13, 5}, {1, 40'001, 4}};
  int failures = 0;
  for (const auto& l : layouts) {
    const std::string what = "layout B=" + std::to_string(l.B) + " C=" + std::to_string(l.C);
    failures += !check(what, mv, make_problem(rng, l.B, l.C, l.D, false), 3);
    ++cases;
  }
  for (const auto& [name, config] : heads()) {
    failures += !check(name + " misaligned", config, misaligned(make_problem(rng, 8, 64, 33, false)));
    ++cases;
  }
  return failures;
}

// Class chunks on every head: sizes that divide C = 12 (1, 4) and do not (5), the whole head (12)
// and more (40); 4 takes the vector loads on aligned chunks. Then a chunk over two blocks per row
// with vector loads and a narrower one in one block with scalar loads (7001 classes), against the
// CPU only (the row norms of 40k classes are slow to emulate); and chunks of 6 of 10 classes, whose
// second chunk (4 classes, vector-wide) starts its column scales 24 bytes in: scalar loads.
int check_chunks(std::mt19937& rng, int& cases) {
  const std::initializer_list<int64_t> chunks = {1, 4, 5, 12, 40};
  int failures = 0, chunked = 0;
  for (const auto& [name, config] : heads()) {
    const bool spread = chunked++ % 2;
    failures +=
        check_chunked(name + (spread ? " spread" : " random"), config, make_problem(rng, 10, 12, 16, spread), chunks);
    cases += static_cast<int>(chunks.size());
  }
  LossConfig mv = mv_arc();
  mv.easy_margin = true;
  failures +=
      check_chunked("chunked layout B=2 C=40001", mv, make_problem(rng, 2, 40'001, 4, false), {33'000}, 3, true);
  failures +=
      check_chunked("chunked C=10, x and W misaligned", mv, misaligned(make_problem(rng, 10, 10, 16, false)), {6});
  cases += 2;
  return failures;
}

}  // namespace

int main() {
  int failures = 0, cases = 0;
  for (const emulation::Order& order : emulation::orders()) {
    emulation::use_order(order);
    std::printf("== thread order %s\n", order.name().c_str());
    std::mt19937 rng(12345);
    failures += check_heads(rng, cases) + check_layouts(rng, cases) + check_chunks(rng, cases);
  }
  std::printf("%d passed, %d failed\n", cases - failures, failures);
  return failures ? 1 : 0;
}
