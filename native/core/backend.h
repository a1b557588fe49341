#pragma once
// What the native core runs on: libtorch build, BLAS, CUDA devices, intra-op threads.
#include <c10/core/Device.h>

#include <string>
#include <vector>

namespace mvface {

struct BackendInfo {
  std::string libtorch_version;
  std::string libtorch_source;  // "LIBTORCH" | "pytorch" | "system"
  std::string libtorch_tag;     // prebuild tag, e.g. torch1_13_0_system_cpu
  bool built_with_cuda = false;
  bool cuda_available = false;
  std::vector<std::string> cuda_devices;
  std::string blas;
  int threads = 1;
  bool onednn = false;                           // libtorch's oneDNN (MKL-DNN) kernels in use on the CPU
  bool tf32_cudnn = false, tf32_cublas = false;  // TensorFloat-32 allowed in cuDNN, cuBLAS
};

BackendInfo backend_info();
int default_thread_count();
void set_thread_count(int threads);  // intra-op threads of ATen and of OpenBLAS when present
// Threads from MVFACE_NUM_THREADS or the machine's cores; MVFACE_ONEDNN=0 turns oneDNN off;
// MVFACE_TF32=0 or 1 sets TensorFloat-32 in cuDNN and cuBLAS (a Trainer's tf32 option overrides it).
void init_backend();

// "cpu", "cuda" (the first GPU) or "cuda:N"; E_CONFIG for anything else or a device this machine lacks.
c10::Device parse_device(const std::string& name);

}  // namespace mvface
