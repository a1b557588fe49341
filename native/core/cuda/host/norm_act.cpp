// The fused batch norm on ATen tensors: checks, workspaces and the autograd function around the
// launchers of cuda/norm_kernels.h.
#include "cuda/host/norm_act.h"

#include <torch/csrc/autograd/custom_function.h>

#ifndef MVFACE_CUDA_EMULATION
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "cuda/norm_kernels.h"
#include "cuda/row_kernels.h"
#include "errors.h"

namespace mvface::cuda {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef MVFACE_CUDA_EMULATION
// cuda/emulation/: CPU tensors, the kernels run on the CPU, no stream.
bool on_device(const at::Tensor& t, const at::Tensor&) { return t.device().is_cpu(); }
cudaStream_t current_stream(const at::Tensor&) { return nullptr; }
#else
bool on_device(const at::Tensor& t, const at::Tensor& x) { return t.is_cuda() && t.device() == x.device(); }
cudaStream_t current_stream(const at::Tensor& x) {
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}
#endif

bool float_vector(const at::Tensor& t, const at::Tensor& x, int64_t C) {
  return t.defined() && t.dim() == 1 && t.size(0) == C && t.scalar_type() == at::kFloat && t.is_contiguous() &&
         on_device(t, x);
}

bool dense_layout(const at::Tensor& x) {
  return x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

int multiprocessors(const at::Tensor& x) {
  static std::atomic<int> counts[64] = {};
  const int device = x.device().is_cpu() ? 0 : x.device().index();
  if (device < 0 || device >= 64) return multiprocessor_count(device);
  if (counts[device] == 0) counts[device] = multiprocessor_count(device);
  return counts[device];
}

// The largest power of two (at most 16) that divides every address: how wide the loads may be.
int alignment(std::initializer_list<const void*> pointers) {
  uintptr_t bits = 16;
  for (const void* p : pointers)
    if (p) bits |= reinterpret_cast<uintptr_t>(p);
  return static_cast<int>(bits & (~bits + 1));
}

// `aligned`: alignment() of the tensors the element-wise passes read or write, x included.
NormArgs make_args(const at::Tensor& x, const NormActParams& p, const at::Tensor& alpha, int aligned) {
  NormArgs a;
  const bool channels_last = !x.is_contiguous();
  a.shape = plan_norm(x.size(0), x.size(1), x.size(2) * x.size(3), channels_last, static_cast<int>(x.element_size()),
                      aligned, multiprocessors(x));
  a.dtype = x.scalar_type() == at::kBFloat16 ? NormDtype::kBFloat16 : NormDtype::kFloat32;
  a.x = x.data_ptr();
  a.weight = p.weight.data_ptr<float>();
  a.bias = p.bias.data_ptr<float>();
  if (alpha.defined()) {
    a.alpha = alpha.data_ptr<float>();
    a.alpha_stride = alpha.numel() == 1 ? 0 : 1;
  }
  a.eps = static_cast<float>(p.eps);
  a.momentum = static_cast<float>(p.momentum);
  return a;
}

void check_launch(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("E_NATIVE", "", std::string("CUDA fused batch norm ") + what + ": " + cudaGetErrorString(e));
}

at::Tensor floats(const at::Tensor& x, int64_t n) { return at::empty({n}, x.options().dtype(at::kFloat)); }

using Optional = c10::optional<at::Tensor>;

Optional optional(const at::Tensor& t) { return t.defined() ? Optional(t) : Optional(); }

struct NormActFunction : torch::autograd::Function<NormActFunction> {
  // The optional tensors travel as optionals: libtorch 1.13's autograd functions take no undefined
  // tensor as an input.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const Optional& slopes, const Optional& added,
                            const Optional& mean_state, const Optional& var_state, double eps, double momentum) {
    const at::Tensor alpha = slopes.value_or(at::Tensor()), residual = added.value_or(at::Tensor());
    const at::Tensor running_mean = mean_state.value_or(at::Tensor()), running_var = var_state.value_or(at::Tensor());
    const NormActParams p{weight, bias, running_mean, running_var, alpha, eps, momentum};
    at::Tensor out = at::empty_like(x);
    const void* added_data = residual.defined() ? residual.data_ptr() : nullptr;
    NormArgs a = make_args(x, p, alpha, alignment({x.data_ptr(), out.data_ptr(), added_data}));
    const int64_t C = a.shape.C;
    at::Tensor mean = floats(x, C), invstd = floats(x, C), coef = floats(x, 4 * C);
    at::Tensor parts = floats(x, 3 * a.shape.splits * C);
    a.mean = mean.data_ptr<float>();
    a.invstd = invstd.data_ptr<float>();
    a.coef = coef.data_ptr<float>();
    a.parts = parts.data_ptr<float>();
    if (running_mean.defined()) {
      a.running_mean = running_mean.data_ptr<float>();
      a.running_var = running_var.data_ptr<float>();
    }
    a.residual = added_data;
    a.out = out.data_ptr();
    check_launch(launch_norm_forward(a, current_stream(x)), "forward");
    ctx->save_for_backward({x, weight, bias, alpha, mean, invstd});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["residual"] = residual.defined();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &alpha = saved[3];
    const at::Tensor g = grads[0].contiguous(x.suggest_memory_format());
    const NormActParams p{saved[1], saved[2], {}, {}, alpha, ctx->saved_data["eps"].toDouble(), 0.0};
    at::Tensor grad_x = at::empty_like(x);
    NormArgs a = make_args(x, p, alpha, alignment({x.data_ptr(), g.data_ptr(), grad_x.data_ptr()}));
    const int64_t C = a.shape.C;
    at::Tensor coef = floats(x, 4 * C), parts = floats(x, 3 * a.shape.splits * C);
    at::Tensor grad_weight = floats(x, C), grad_bias = floats(x, C), grad_alpha = floats(x, C);
    a.mean = saved[4].data_ptr<float>();
    a.invstd = saved[5].data_ptr<float>();
    a.coef = coef.data_ptr<float>();
    a.parts = parts.data_ptr<float>();
    a.grad_out = g.data_ptr();
    a.grad_x = grad_x.data_ptr();
    a.grad_weight = grad_weight.data_ptr<float>();
    a.grad_bias = grad_bias.data_ptr<float>();
    a.grad_alpha = grad_alpha.data_ptr<float>();
    check_launch(launch_norm_backward(a, current_stream(x)), "backward");
    at::Tensor slopes;
    if (alpha.defined()) slopes = alpha.numel() == 1 ? grad_alpha.sum().view({1}) : grad_alpha;
    const at::Tensor residual_grad = ctx->saved_data["residual"].toBool() ? g : at::Tensor();
    return {grad_x, grad_weight, grad_bias, slopes, residual_grad, {}, {}, {}, {}};
  }
};

}  // namespace

bool norm_act_supported(const at::Tensor& x, const NormActParams& p, const at::Tensor& residual) {
  if (x.dim() != 4 || !dense_layout(x) || !on_device(x, x)) return false;
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) return false;
  const int64_t C = x.size(1), positions = x.numel() / std::max<int64_t>(C, 1);
  if (C == 0 || positions < 2 || x.numel() >= std::numeric_limits<int32_t>::max()) return false;
  if (!float_vector(p.weight, x, C) || !float_vector(p.bias, x, C)) return false;
  if (p.running_mean.defined() != p.running_var.defined()) return false;
  if (p.running_mean.defined() && (!float_vector(p.running_mean, x, C) || !float_vector(p.running_var, x, C)))
    return false;
  if (p.alpha.defined() && !float_vector(p.alpha, x, C) && !float_vector(p.alpha, x, 1)) return false;
  if (!residual.defined()) return true;
  return residual.sizes() == x.sizes() && residual.strides() == x.strides() &&
         residual.scalar_type() == x.scalar_type() && on_device(residual, x);
}

at::Tensor norm_act(const at::Tensor& x, const NormActParams& p, const at::Tensor& residual) {
  if (!norm_act_supported(x, p, residual))
    fail("E_SHAPE", "x", "the fused batch norm takes a 4-d float32 or bfloat16 tensor, contiguous or channels-last, "
                         "with float32 parameters of its channels beside it");
#ifndef MVFACE_CUDA_EMULATION
  const c10::cuda::CUDAGuard guard(x.device());
#endif
  return NormActFunction::apply(x, p.weight, p.bias, optional(p.alpha), optional(residual), optional(p.running_mean),
                                optional(p.running_var), p.eps, p.momentum);
}

}  // namespace mvface::cuda
