// How rows are cut into thread blocks (host code; row_kernels.h).
#include <algorithm>

#include "cuda/row_kernels.h"

namespace mvface::cuda {
namespace {

constexpr int kBlocksPerMultiprocessor = 2048 / kRowPassThreads;  // resident blocks, at most
constexpr int64_t kMinSegment = 16384;                            // classes per block, at least (when C allows)
constexpr int kWavesWanted = 8;                                   // several waves of blocks: a short tail wave

}  // namespace

int multiprocessor_count(int device) {
  int count = 0;
  if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    cudaGetLastError();
    return 1;
  }
  return count;
}

RowPlan plan_rows(int64_t B, int64_t C, int multiprocessors, bool aligned) {
  RowPlan plan;
  plan.vectorized = aligned && C % 4 == 0;
  const int64_t wanted = static_cast<int64_t>(multiprocessors) * kBlocksPerMultiprocessor * kWavesWanted;
  const int64_t segments = std::clamp<int64_t>((wanted + B - 1) / B, 1, std::max<int64_t>(1, C / kMinSegment));
  plan.segment_len = ((C + segments - 1) / segments + 3) / 4 * 4;
  plan.segments = static_cast<int>((C + plan.segment_len - 1) / plan.segment_len);
  return plan;
}

}  // namespace mvface::cuda
