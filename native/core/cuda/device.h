#pragma once
// The CUDA devices this process can use, by name; cudart only, so it builds without ATen.
#include <string>
#include <vector>

namespace mvface::cuda {

// Empty when there is no device or no driver.
std::vector<std::string> device_names();

}  // namespace mvface::cuda
