// Launches the warp-per-row kernels of row_ops.cuh.
#include "cuda/device.h"
#include "cuda/row_ops.cuh"

namespace mvface::cuda {
namespace {

unsigned blocks_for_rows(int64_t rows) {
  return static_cast<unsigned>((rows + kernels::kRowsPerBlock - 1) / kernels::kRowsPerBlock);
}

}  // namespace

cudaError_t launch_row_norms(const float* v, int64_t rows, int64_t D, float* norms, int device, cudaStream_t stream) {
  if (cudaError_t e = make_current(device); e != cudaSuccess) return e;
  kernels::row_norms<<<blocks_for_rows(rows), kernels::kWarpRowThreads, 0, stream>>>(v, rows, D, norms);
  return cudaGetLastError();
}

cudaError_t launch_normalize_backward(float* grad, const float* v, const float* inv, int64_t rows, int64_t D,
                                      bool scaled, int device, cudaStream_t stream) {
  if (cudaError_t e = make_current(device); e != cudaSuccess) return e;
  const unsigned blocks = blocks_for_rows(rows);
  kernels::normalize_backward<<<blocks, kernels::kWarpRowThreads, 0, stream>>>(grad, v, inv, rows, D, scaled);
  return cudaGetLastError();
}

}  // namespace mvface::cuda
