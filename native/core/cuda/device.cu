#include "cuda/device.h"

#include <cuda_runtime_api.h>

namespace mvface::cuda {

std::vector<std::string> device_names() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return {};
  }
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) names.emplace_back(prop.name);
  }
  return names;
}

cudaError_t make_current(int device) {
  int current = -1;
  if (cudaError_t e = cudaGetDevice(&current); e != cudaSuccess) return e;
  return current == device ? cudaSuccess : cudaSetDevice(device);
}

}  // namespace mvface::cuda
