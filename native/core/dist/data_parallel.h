#pragma once
// Data parallelism over a Comm: every rank holds the same parameters, computes gradients on its own
// slice of the global batch, and the gradients are averaged over the ranks before the update (as
// PyTorch's DistributedDataParallel: flattened buckets, all-reduced together).
#include <ATen/ATen.h>

#include <vector>

#include "dist/comm.h"

namespace mvface::dist {

// Replaces each tensor by the mean over the ranks of its value (same shapes, same order on every
// rank). Tensors are packed by dtype and device into buckets of at most about bucket_bytes, whose
// flat buffers are kept from call to call (as DDP's): while the tensors keep their shapes, dtypes
// and devices, nothing is allocated again.
class GradientAverager {
 public:
  explicit GradientAverager(int64_t bucket_bytes = 25 << 20) : bucket_bytes_(bucket_bytes) {}
  void average(Comm& comm, const std::vector<at::Tensor>& tensors);

 private:
  bool planned_for(const std::vector<at::Tensor>& tensors) const;
  void plan(const std::vector<at::Tensor>& tensors);

  int64_t bucket_bytes_;
  std::vector<at::TensorOptions> options_;    // per tensor, as planned
  std::vector<std::vector<int64_t>> sizes_;   // per tensor, as planned
  std::vector<std::vector<size_t>> members_;  // per bucket: indices into the tensors
  std::vector<at::Tensor> flats_;             // per bucket
};

// Sets each tensor to rank 0's value.
void broadcast_from_rank0(Comm& comm, const std::vector<at::Tensor>& tensors);

}  // namespace mvface::dist
