// The fused batch norm on ATen tensors: checks, workspaces and the autograd function around the
// CUDA launchers of cuda/norm_kernels.h and the CPU passes of norm/norm_cpu.h.
#include "norm/fused_norm.h"

#include <c10/core/DeviceGuard.h>
#include <torch/csrc/autograd/custom_function.h>

#ifdef MVFACE_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif
#if defined(MVFACE_WITH_CUDA) || defined(MVFACE_CUDA_EMULATION)
#include "cuda/norm_kernels.h"
#include "cuda/row_kernels.h"
#endif

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "errors.h"
#include "norm/norm_cpu.h"

namespace mvface::norm {

#ifdef MVFACE_CUDA_EMULATION
bool emulate_cuda_kernels = false;
#endif

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool on_device(const at::Tensor& t, const at::Tensor& x) { return t.device() == x.device(); }

bool runs_here(const at::Tensor& x) {
#ifdef MVFACE_WITH_CUDA
  if (x.is_cuda()) return true;
#endif
  return x.device().is_cpu();
}

#if defined(MVFACE_WITH_CUDA) || defined(MVFACE_CUDA_EMULATION)
// On a CUDA device (or emulated), the kernels' launches; else the CPU passes.
bool on_cuda_kernels(const at::Tensor& x) {
#ifdef MVFACE_CUDA_EMULATION
  if (emulate_cuda_kernels) return true;
#endif
  return x.is_cuda();
}

cudaStream_t current_stream(const at::Tensor& x) {
#ifdef MVFACE_WITH_CUDA
  if (x.is_cuda()) return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
#endif
  return nullptr;  // emulated: no stream
}

void check_launch(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    fail("E_NATIVE", "", std::string("CUDA fused batch norm ") + what + ": " + cudaGetErrorString(e));
}
#endif

void run_forward(const NormArgs& a, const at::Tensor& x) {
#if defined(MVFACE_WITH_CUDA) || defined(MVFACE_CUDA_EMULATION)
  if (on_cuda_kernels(x))
    return check_launch(cuda::launch_norm_forward(a, x.device().index(), current_stream(x)), "forward");
#endif
  norm_forward_cpu(a);
}

void run_backward(const NormArgs& a, const at::Tensor& x) {
#if defined(MVFACE_WITH_CUDA) || defined(MVFACE_CUDA_EMULATION)
  if (on_cuda_kernels(x))
    return check_launch(cuda::launch_norm_backward(a, x.device().index(), current_stream(x)), "backward");
#endif
  norm_backward_cpu(a);
}

bool float_vector(const at::Tensor& t, const at::Tensor& x, int64_t C) {
  return t.defined() && t.dim() == 1 && t.size(0) == C && t.scalar_type() == at::kFloat && t.is_contiguous() &&
         on_device(t, x);
}

bool dense_layout(const at::Tensor& x) { return x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast); }

// The CUDA blocks' plan needs the device's multiprocessors (1 for the CPU passes, which ignore it).
int multiprocessors(const at::Tensor& x) {
#if defined(MVFACE_WITH_CUDA) || defined(MVFACE_CUDA_EMULATION)
  static std::atomic<int> counts[64] = {};
  if (!on_cuda_kernels(x)) return 1;
  const int device = x.device().is_cpu() ? 0 : x.device().index();
  if (device < 0 || device >= 64) return cuda::multiprocessor_count(device);
  if (counts[device] == 0) counts[device] = cuda::multiprocessor_count(device);
  return counts[device];
#else
  return 1;
#endif
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

at::Tensor floats(const at::Tensor& x, int64_t n) { return at::empty({n}, x.options().dtype(at::kFloat)); }

using Optional = c10::optional<at::Tensor>;

Optional optional(const at::Tensor& t) { return t.defined() ? Optional(t) : Optional(); }

struct NormActFunction : torch::autograd::Function<NormActFunction> {
  // The optional tensors travel as optionals: libtorch 1.13's autograd functions take no undefined
  // tensor as an input.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            const Optional& slopes, const Optional& added, const Optional& mean_state,
                            const Optional& var_state, double eps, double momentum) {
    const at::Tensor alpha = slopes.value_or(at::Tensor()), residual = added.value_or(at::Tensor());
    const at::Tensor running_mean = mean_state.value_or(at::Tensor()), running_var = var_state.value_or(at::Tensor());
    const NormActParams p{weight, bias, running_mean, running_var, alpha, eps, momentum};
    at::Tensor out = at::empty_like(x);
    const void* added_data = residual.defined() ? residual.data_ptr() : nullptr;
    NormArgs a = make_args(x, p, alpha, alignment({x.data_ptr(), out.data_ptr(), added_data}));
    const int64_t C = a.shape.C;
    at::Tensor mean = floats(x, C), invstd = floats(x, C), coef = floats(x, 3 * C);
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
    run_forward(a, x);
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
    at::Tensor coef = floats(x, 3 * C), parts = floats(x, 3 * a.shape.splits * C);
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
    run_backward(a, x);
    at::Tensor slopes;
    if (alpha.defined()) slopes = alpha.numel() == 1 ? grad_alpha.sum().view({1}) : grad_alpha;
    const at::Tensor residual_grad = ctx->saved_data["residual"].toBool() ? g : at::Tensor();
    return {grad_x, grad_weight, grad_bias, slopes, residual_grad, {}, {}, {}, {}};
  }
};

}  // namespace

bool norm_act_supported(const at::Tensor& x, const NormActParams& p, const at::Tensor& residual) {
  if (x.dim() != 4 || !dense_layout(x) || !runs_here(x)) return false;
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
    fail("E_SHAPE", "x",
         "the fused batch norm takes a 4-d float32 or bfloat16 tensor, contiguous or channels-last, "
         "with float32 parameters of its channels beside it");
  const c10::OptionalDeviceGuard guard(x.device());
  return NormActFunction::apply(x, p.weight, p.bias, optional(p.alpha), optional(residual), optional(p.running_mean),
                                optional(p.running_var), p.eps, p.momentum);
}

}  // namespace mvface::norm
