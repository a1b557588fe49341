#include "cuda/host/memory.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>

namespace mvface::cuda {
namespace {

namespace allocator = c10::cuda::CUDACachingAllocator;
constexpr size_t kAggregate = 0;  // StatType::AGGREGATE, whose namespace moved between versions

}  // namespace

MemoryStats memory_stats() {
  const auto stats = allocator::getDeviceStats(c10::cuda::current_device());
  MemoryStats m;
  m.allocated = stats.allocated_bytes[kAggregate].current;
  m.peak_allocated = stats.allocated_bytes[kAggregate].peak;
  m.reserved = stats.reserved_bytes[kAggregate].current;
  size_t free = 0, total = 0;
  C10_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  m.device_free = static_cast<int64_t>(free);
  m.device_total = static_cast<int64_t>(total);
  return m;
}

void reset_peak_memory() { allocator::resetPeakStats(c10::cuda::current_device()); }

}  // namespace mvface::cuda
