#include "cuda/host/queued_read.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "cuda/device.h"

namespace mvface::cuda {

QueuedRead::QueuedRead(const at::Tensor& device_tensor) {
  c10::cuda::CUDAGuard guard(device_tensor.device());
  host_ = at::empty(device_tensor.sizes(), device_tensor.options().device(at::kCPU).pinned_memory(true));
  host_.copy_(device_tensor, /*non_blocking=*/true);
  cudaEvent_t event = nullptr;
  // The event must be made on the stream's device. The guard made it current in libtorch's CUDA
  // runtime, the one these calls bind to (cmake/Cuda.cmake links it); made current here too, for a
  // libtorch whose runtime goes by another name than the one linked.
  C10_CUDA_CHECK(make_current(device_tensor.device().index()));
  C10_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  const cudaError_t recorded =
      cudaEventRecord(event, c10::cuda::getCurrentCUDAStream(device_tensor.device().index()).stream());
  if (recorded != cudaSuccess) (void)cudaEventDestroy(event);  // no destructor runs when a constructor throws
  C10_CUDA_CHECK(recorded);
  event_ = event;
}

QueuedRead::~QueuedRead() {
  if (event_) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event_));
}

at::Tensor QueuedRead::wait() {
  C10_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)));
  return host_;
}

}  // namespace mvface::cuda
