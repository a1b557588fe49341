#pragma once
// The kernels' vector accesses (float4, Pack): an element pointer as a pointer to one access of
// sizeof(V) bytes, which must be aligned to that size. Under nvcc a plain reinterpret_cast; under
// the emulation (emulation/emulate.h) the address is checked first.
#ifdef MVFACE_CUDA_EMULATION
#include <source_location>

#include "cuda/emulation/emulate.h"
#endif

namespace mvface::cuda {

#ifdef MVFACE_CUDA_EMULATION
template <typename V, typename T>
const V* vector_cast(const T* p, std::source_location where = std::source_location::current()) {
  emulation::check_aligned(p, sizeof(V), where);
  return reinterpret_cast<const V*>(p);
}

template <typename V, typename T>
V* vector_cast(T* p, std::source_location where = std::source_location::current()) {
  emulation::check_aligned(p, sizeof(V), where);
  return reinterpret_cast<V*>(p);
}
#else
template <typename V, typename T>
__device__ __forceinline__ const V* vector_cast(const T* p) {
  return reinterpret_cast<const V*>(p);
}

template <typename V, typename T>
__device__ __forceinline__ V* vector_cast(T* p) {
  return reinterpret_cast<V*>(p);
}
#endif

}  // namespace mvface::cuda
