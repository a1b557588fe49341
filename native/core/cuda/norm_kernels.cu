// Launches the fused batch norm of norm_kernels.h (kernels in norm_kernels.cuh).
#include "cuda/device.h"
#include "cuda/norm_kernels.cuh"

namespace mvface::cuda {
namespace {

struct StreamLaunch {
  cudaStream_t stream;
  void operator()(void (*kernel)(NormArgs), unsigned blocks, const NormArgs& a) const {
    kernel<<<blocks, kNormThreads, 0, stream>>>(a);
  }
};

}  // namespace

cudaError_t launch_norm_forward(const NormArgs& a, int device, cudaStream_t stream) {
  if (cudaError_t e = make_current(device); e != cudaSuccess) return e;
  kernels::norm_forward(a, StreamLaunch{stream});
  return cudaGetLastError();
}

cudaError_t launch_norm_backward(const NormArgs& a, int device, cudaStream_t stream) {
  if (cudaError_t e = make_current(device); e != cudaSuccess) return e;
  kernels::norm_backward(a, StreamLaunch{stream});
  return cudaGetLastError();
}

}  // namespace mvface::cuda
