#pragma once
// Timing of one backbone step's batch norm (+ PReLU) (+ residual add), forward and backward, as the
// modules run it (under autocast, as in training) and as the fused kernels do, for bench/norm-gpu.ts.
#include <cstdint>
#include <string>
#include <vector>

namespace mvface::cuda {

struct NormBenchCase {
  int64_t N = 256, C = 64, H = 56, W = 56;
  bool bf16 = true;  // x, residual and gradients in bfloat16 (else float32)
  bool channels_last = false;
  bool prelu = true;
  bool residual = false;
  int repeats = 20;  // timed samples per variant, each the mean of 10 steps
};

struct NormTiming {
  std::string name;         // "modules" or "fused"
  double median_ms = 0;     // one forward + backward
  int64_t saved_bytes = 0;  // what the forward keeps for the backward (beyond its output)
};

// Both variants, interleaved sample by sample, after a warm-up step each.
std::vector<NormTiming> time_norm_cuda(const NormBenchCase& c);

}  // namespace mvface::cuda
