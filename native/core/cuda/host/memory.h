#pragma once
// What libtorch's CUDA caching allocator holds on the current device.
#include <cstdint>

namespace mvface::cuda {

struct MemoryStats {
  int64_t allocated = 0;       // bytes in live tensors
  int64_t peak_allocated = 0;  // the most since the last reset
  int64_t reserved = 0;        // bytes taken from the device (live and cached)
  int64_t device_free = 0;     // the device's free memory (cudaMemGetInfo), the allocator's cache not counted
  int64_t device_total = 0;
};

MemoryStats memory_stats();
void reset_peak_memory();

}  // namespace mvface::cuda
