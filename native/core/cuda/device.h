#pragma once
// The CUDA devices this process can use, by name, and the current one of the runtime the kernels
// launch through; cudart only, so it builds without ATen.
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

namespace mvface::cuda {

// Empty when there is no device or no driver.
std::vector<std::string> device_names();

// Makes `device` current in the CUDA runtime these launches bind to, before them: a no-op when it
// already is (as c10's device guard does, in the same runtime where the build links libtorch's), so
// it stays out of the way of a stream capture.
cudaError_t make_current(int device);

}  // namespace mvface::cuda
