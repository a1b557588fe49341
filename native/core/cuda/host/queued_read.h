#pragma once
// A small device tensor read on the host without draining the stream first: the copy into pinned
// memory is queued on the current stream now, and wait() blocks only until that copy has run, so
// that whatever the host queues in between (the step's backward) keeps the device busy meanwhile.
// Only in CUDA builds.
#include <ATen/ATen.h>

namespace mvface::cuda {

class QueuedRead {
 public:
  explicit QueuedRead(const at::Tensor& device_tensor);
  ~QueuedRead();
  QueuedRead(const QueuedRead&) = delete;
  QueuedRead& operator=(const QueuedRead&) = delete;
  at::Tensor wait();  // the tensor on the host, once the copy has landed

 private:
  at::Tensor host_;
  void* event_ = nullptr;  // a cudaEvent_t, kept out of this header
};

}  // namespace mvface::cuda
