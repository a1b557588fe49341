#include "backend.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <dlfcn.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "errors.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/device.h"
#endif

namespace mvface {
namespace {

std::string blas_from_loaded_libraries() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const char* known[] = {"libopenblas", "libmkl_rt", "libmkl_core", "libblis", "libblas.so"};
  for (const char* name : known) {
    maps.clear();
    maps.seekg(0);
    while (std::getline(maps, line)) {
      auto at = line.find('/');
      if (at != std::string::npos && line.find(name, at) != std::string::npos) return line.substr(at);
    }
  }
  return "unknown";
}

void set_openblas_threads(int threads) {
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(threads);
}

}  // namespace

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void set_thread_count(int threads) {
  if (threads < 1 || threads > 4096) fail("E_CONFIG", "threads", "must be an integer in [1, 4096]");
  at::set_num_threads(threads);
  set_openblas_threads(threads);
}

void init_backend() {
  int threads = default_thread_count();
  if (const char* env = std::getenv("MVFACE_NUM_THREADS")) {
    int requested = std::atoi(env);
    if (requested > 0) threads = requested;
  }
  set_thread_count(threads);
  if (const char* env = std::getenv("MVFACE_ONEDNN"); env && std::string(env) == "0")
    at::globalContext().setUserEnabledMkldnn(false);
  if (const char* env = std::getenv("MVFACE_TF32"); env && (std::string(env) == "0" || std::string(env) == "1")) {
    at::globalContext().setAllowTF32CuDNN(env[0] == '1');
    at::globalContext().setAllowTF32CuBLAS(env[0] == '1');
  }
}

BackendInfo backend_info() {
  BackendInfo info;
  info.libtorch_version = TORCH_VERSION;
  info.libtorch_source = MVFACE_LIBTORCH_SOURCE;
  info.libtorch_tag = MVFACE_LIBTORCH_TAG;
#ifdef MVFACE_WITH_CUDA
  info.built_with_cuda = true;
  info.cuda_devices = cuda::device_names();
  info.cuda_available = !info.cuda_devices.empty();
#endif
  info.blas = blas_from_loaded_libraries();
  info.threads = at::get_num_threads();
  info.onednn = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn();
  info.tf32_cudnn = at::globalContext().allowTF32CuDNN();
  info.tf32_cublas = at::globalContext().allowTF32CuBLAS();
  return info;
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  const bool indexed = name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() <= 8 &&
                       name.find_first_not_of("0123456789", 5) == std::string::npos;
  if (name != "cuda" && !indexed) fail("E_CONFIG", "device", "must be 'cpu', 'cuda' or 'cuda:N', got '" + name + "'");
  if (!at::hasCUDA()) fail("E_CONFIG", "device", "'" + name + "' asked for, but this build or machine has no CUDA");
  const int index = indexed ? std::stoi(name.substr(5)) : 0;
  const int count = c10::impl::getDeviceGuardImpl(at::kCUDA)->deviceCount();
  if (index >= count)
    fail("E_CONFIG", "device",
         "'" + name + "' asked for, but this machine has " + std::to_string(count) + " CUDA device(s)");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace mvface
