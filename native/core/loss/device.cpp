#include "loss/device.h"

#include "errors.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/device.h"
#endif

namespace mvface::loss {

void require_cuda() {
#ifdef MVFACE_WITH_CUDA
  if (cuda::device_names().empty()) fail("E_CONFIG", "device", "'cuda' asked for, but no CUDA device is visible");
#else
  fail("E_CONFIG", "device",
       "'cuda' asked for, but this build of mvface has no CUDA (it was built against a CPU libtorch); "
       "rebuild with LIBTORCH_USE_PYTORCH=1 (a CUDA PyTorch) or LIBTORCH=/path/to/a CUDA libtorch");
#endif
}

LossDevice parse_loss_device(const std::string& device, const std::string& dtype) {
  if (device != "cpu" && device != "cuda")
    fail("E_CONFIG", "device", "unknown device '" + device + "' (expected cpu or cuda)");
  if (dtype != "float32" && dtype != "bfloat16")
    fail("E_CONFIG", "dtype", "unknown dtype '" + dtype + "' (expected float32 or bfloat16)");
  LossDevice d;
  d.cuda = device == "cuda";
  d.bfloat16 = dtype == "bfloat16";
  if (d.bfloat16 && !d.cuda) fail("E_CONFIG", "dtype", "bfloat16 runs on device 'cuda' only");
  if (d.cuda) require_cuda();
  return d;
}

LossResult fused_loss_on(const LossDevice& device, const LossConfig& config, const at::Tensor& x,
                         const at::Tensor& weight, const at::Tensor& labels, const FusedOptions& options) {
  if (!device.cuda) return fused_loss(config, x, weight, labels, options);
  if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat)
    fail("E_SHAPE", "embeddings", "device 'cuda' takes Float32Array data");
  const at::ScalarType dtype = device.bfloat16 ? at::kBFloat16 : at::kFloat;
  const at::Device cuda(at::kCUDA);
  LossResult r = fused_loss(config, x.to(cuda, dtype), weight.to(cuda, dtype), labels.to(cuda), options);
  r.grad_embeddings = r.grad_embeddings.to(at::kCPU, at::kFloat);
  r.grad_weight = r.grad_weight.to(at::kCPU, at::kFloat);
  return r;
}

}  // namespace mvface::loss
