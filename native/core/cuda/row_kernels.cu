// Launches the row pass of row_kernels.h (kernels in row_kernels.cuh).
#include "cuda/row_kernels.cuh"

namespace mvface::cuda {
namespace {

unsigned blocks_for(int64_t n, int per_block) { return static_cast<unsigned>((n + per_block - 1) / per_block); }

}  // namespace

cudaError_t launch_row_stats(const RowPassArgs& a, cudaStream_t stream) {
  if (cudaError_t e = cudaSetDevice(a.device); e != cudaSuccess) return e;
  const unsigned row_blocks = blocks_for(a.B, kernels::kRowThreads);
  const unsigned pieces = static_cast<unsigned>(a.B * a.plan.segments);
  kernels::prepare_rows<<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  if (a.plan.vectorized) kernels::lse_parts<true><<<pieces, kernels::kThreads, 0, stream>>>(a);
  else kernels::lse_parts<false><<<pieces, kernels::kThreads, 0, stream>>>(a);
  kernels::finish_rows<<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_row_gradient(const RowPassArgs& a, cudaStream_t stream) {
  if (cudaError_t e = cudaSetDevice(a.device); e != cudaSuccess) return e;
  const unsigned pieces = static_cast<unsigned>(a.B * a.plan.segments);
  if (a.plan.vectorized) kernels::gradient_parts<true><<<pieces, kernels::kThreads, 0, stream>>>(a);
  else kernels::gradient_parts<false><<<pieces, kernels::kThreads, 0, stream>>>(a);
  const unsigned row_blocks = blocks_for(a.B, kernels::kRowThreads);
  kernels::finish_gradient<<<row_blocks, kernels::kRowThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mvface::cuda
