// The modules' path and the fused kernels' path of norm_act().
#include "backbones/norm_act.h"

#include <optional>

#ifdef MVFACE_WITH_CUDA
#include "cuda/host/norm_act.h"
#endif

namespace mvface::backbones {
namespace {

at::Tensor modules_norm_act(const at::Tensor& x, torch::nn::BatchNorm2d bn, torch::nn::PReLU prelu,
                            const at::Tensor& residual) {
  at::Tensor y = bn->forward(x);
  if (!prelu.is_empty()) y = prelu->forward(y);
  return residual.defined() ? y + residual : y;
}

#ifdef MVFACE_WITH_CUDA
// The kernels' arguments, or nothing where the module's options ask for what they do not do
// (no affine parameters, no running statistics, a cumulative average).
std::optional<cuda::NormActParams> fused_params(torch::nn::BatchNorm2d bn, torch::nn::PReLU prelu) {
  const auto& o = bn->options;
  if (!bn->is_training() || !o.affine() || !o.track_running_stats() || !o.momentum().has_value()) return {};
  cuda::NormActParams p{bn->weight, bn->bias, bn->running_mean, bn->running_var, {}, o.eps(), *o.momentum()};
  if (!prelu.is_empty()) p.alpha = prelu->weight;
  return p;
}
#endif

}  // namespace

at::Tensor norm_act(const at::Tensor& x, torch::nn::BatchNorm2d bn, torch::nn::PReLU prelu,
                    const at::Tensor& residual, bool fused) {
#ifdef MVFACE_WITH_CUDA
  const bool something_to_fuse = !prelu.is_empty() || residual.defined();  // a lone BN stays cuDNN's
  if (fused && something_to_fuse && x.is_cuda()) {
    const std::optional<cuda::NormActParams> p = fused_params(bn, prelu);
    if (p && cuda::norm_act_supported(x, *p, residual)) {
      bn->num_batches_tracked += 1;  // as BatchNorm's forward counts it
      return cuda::norm_act(x, *p, residual);
    }
  }
#endif
  return modules_norm_act(x, bn, prelu, residual);
}

int64_t use_fused_norm(Backbone& model, bool on) {
  int64_t found = 0;
  for (const auto& m : model.modules()) {
    if (auto* f = dynamic_cast<FusableNorm*>(m.get())) {
      f->fused_norm = on;
      ++found;
    }
  }
  return found;
}

bool fused_norm_built() {
#ifdef MVFACE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace mvface::backbones
