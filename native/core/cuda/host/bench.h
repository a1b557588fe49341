#pragma once
// Timing of the fused CUDA loss and of the GEMM floor on device-resident random data, for
// bench/loss.ts: no copies between host and device inside the timed steps.
#include <string>
#include <vector>

#include "loss/config.h"

namespace mvface::cuda {

struct TimedVariant {
  std::string name;              // "fused", "chunked" (65536 classes per chunk) or "floor"
  double median_ms = 0;          // forward + backward, the device synchronised after each step
  int64_t peak_extra_bytes = 0;  // allocator peak during one step above inputs and outputs
};

// The middle of the samples (the mean of the two middle ones for an even count).
double median(std::vector<double> samples);

// Variants are timed interleaved, round by round, after one warm-up step each.
std::vector<TimedVariant> time_loss_cuda(const loss::LossConfig& config, int64_t B, int64_t D, int64_t C, int repeats,
                                         const std::vector<std::string>& variants);

}  // namespace mvface::cuda
