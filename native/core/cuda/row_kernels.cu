// Launches the row pass of row_kernels.h (kernels in row_kernels.cuh).
#include "cuda/device.h"
#include "cuda/row_kernels.cuh"

namespace mvface::cuda {
namespace {

unsigned blocks_for(int64_t n, int per_block) { return static_cast<unsigned>((n + per_block - 1) / per_block); }

}  // namespace

cudaError_t launch_row_prepare(const RowPassArgs& a, cudaStream_t stream) {
  if (cudaError_t e = make_current(a.device); e != cudaSuccess) return e;
  kernels::prepare_rows<<<blocks_for(a.B, kernels::kRowThreads), kernels::kRowThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_chunk_stats(const RowPassArgs& a, bool last, cudaStream_t stream) {
  if (cudaError_t e = make_current(a.device); e != cudaSuccess) return e;
  const unsigned row_blocks = blocks_for(a.B, kernels::kRowThreads);
  const unsigned pieces = static_cast<unsigned>(a.B * a.plan.segments);
  if (a.plan.vectorized)
    kernels::lse_parts<true><<<pieces, kernels::kThreads, 0, stream>>>(a);
  else
    kernels::lse_parts<false><<<pieces, kernels::kThreads, 0, stream>>>(a);
  if (last)
    kernels::merge_rows<true><<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  else
    kernels::merge_rows<false><<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_chunk_gradient(const RowPassArgs& a, bool last, cudaStream_t stream) {
  if (cudaError_t e = make_current(a.device); e != cudaSuccess) return e;
  const unsigned pieces = static_cast<unsigned>(a.B * a.plan.segments);
  if (a.plan.vectorized)
    kernels::gradient_parts<true><<<pieces, kernels::kThreads, 0, stream>>>(a);
  else
    kernels::gradient_parts<false><<<pieces, kernels::kThreads, 0, stream>>>(a);
  const unsigned row_blocks = blocks_for(a.B, kernels::kRowThreads);
  if (last)
    kernels::accumulate_gradient<true><<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  else
    kernels::accumulate_gradient<false><<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mvface::cuda
