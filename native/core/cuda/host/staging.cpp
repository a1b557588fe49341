#include "cuda/host/staging.h"

#include <c10/core/Event.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace mvface::cuda {

DeviceBatch stage_batch(const at::Tensor& images, const at::Tensor& labels, at::Device device) {
  c10::cuda::CUDAGuard device_guard(device);
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device.index());
  const c10::cuda::CUDAStream copy = c10::cuda::getStreamFromPool(false, device.index());
  // A pageable source would make the copy synchronous; the pinned buffers come from libtorch's
  // caching host allocator, which keeps them until the copies that read them have finished.
  const at::Tensor host_images = images.is_pinned() ? images : images.contiguous().pin_memory();
  const at::Tensor host_labels = labels.is_pinned() ? labels : labels.contiguous().pin_memory();
  DeviceBatch out;
  {
    c10::cuda::CUDAStreamGuard on_copy(copy);
    out.images = host_images.to(device, /*non_blocking=*/true);
    out.labels = host_labels.to(device, /*non_blocking=*/true);
  }
  // c10's event rather than ATen/cuda/CUDAEvent.h, whose CUDAContext.h needs the cuSPARSE headers.
  c10::Event copied(c10::DeviceType::CUDA);
  copied.record(copy.unwrap());
  copied.block(compute.unwrap());
  // Allocated on the copy stream, used on the compute stream: the caching allocator must not hand
  // the blocks out again before the compute stream is done with them.
  out.images.record_stream(compute);
  out.labels.record_stream(compute);
  return out;
}

}  // namespace mvface::cuda
