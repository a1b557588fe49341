// The fused batch norm (norm/fused_norm.h) against libtorch's batch_norm, prelu and add in float64
// with autograd: the output, the running statistics and every gradient, for NCHW and channels-last,
// float32 and bfloat16, with and without the PReLU (per channel and shared) and the residual, and
// shapes that take one or several splits per channel, a partial channel tile, every load width
// (1 to 8 elements) and several grid-stride steps with the inner offset carrying into the channel;
// inputs, residuals and output gradients whose data start one or two elements into their storage,
// where the driver must load narrower; whole backbones' gradients. The reference runs on the CPU;
// the fused path on the device given. Run by cuda/emulation/check_norm.cpp (the kernels emulated, and
// the CPU passes) and cuda/checks/check_norm_cuda.cpp (the kernels on a GPU).
#include "cuda/checks/norm_checks.h"

#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <string>

#include "backbones/backbone.h"
#include "backbones/norm_act.h"
#include "errors.h"
#include "norm/fused_norm.h"

namespace mvface::norm_checks {
namespace {

using mvface::norm::NormActParams;

enum class Slope { None, PerChannel, Shared };

// Elements between the start of each tensor's storage and its data.
struct Offsets {
  int64_t x = 0, residual = 0, grad = 0;
};

std::string offset_name(const char* what, int64_t elements) {
  return elements ? std::string(" ") + what + "+" + std::to_string(elements) : "";
}

struct Case {
  int64_t N, C, H, W;
  bool channels_last;
  at::ScalarType dtype;
  Slope slope;
  bool residual;
  Offsets offsets = {};
  std::string name() const {
    return std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) +
           (channels_last ? " channels-last" : " nchw") + (dtype == at::kBFloat16 ? " bf16" : " f32") +
           (slope == Slope::None     ? ""
            : slope == Slope::Shared ? " prelu(1)"
                                     : " prelu(C)") +
           (residual ? " +residual" : "") + offset_name("x", offsets.x) + offset_name("residual", offsets.residual) +
           offset_name("grad", offsets.grad);
  }
};

// t's values in a new tensor of the same strides whose data start `elements` elements into its storage.
at::Tensor offset_by(const at::Tensor& t, int64_t elements) {
  if (elements == 0) return t;
  const at::Tensor storage = at::empty({t.numel() + elements}, t.options());
  return storage.narrow(0, elements, t.numel()).as_strided(t.sizes(), t.strides()).copy_(t);
}

// Values representable in `dtype`, of that type, laid out as the case asks, `offset` elements into
// their storage.
at::Tensor input(const Case& c, double mean, double std, int64_t offset) {
  at::Tensor t = (at::randn({c.N, c.C, c.H, c.W}) * std + mean).to(c.dtype);
  return offset_by(c.channels_last ? t.contiguous(at::MemoryFormat::ChannelsLast) : t, offset);
}

struct Outcome {
  at::Tensor out, grad_x, grad_weight, grad_bias, grad_alpha, grad_residual, running_mean, running_var;
  double alpha_scale = 0.0;  // the reference's: the sum over channels of |each channel's slope gradient|
};

struct Inputs {
  at::Tensor x, weight, bias, alpha, residual, running_mean, running_var, grad_out;
};

Inputs make_inputs(const Case& c) {
  Inputs in;
  in.x = input(c, 0.5, 2.0, c.offsets.x);
  in.weight = 1.0 + 0.5 * at::randn({c.C});
  in.bias = 0.3 * at::randn({c.C});
  if (c.slope != Slope::None) in.alpha = 0.25 + 0.1 * at::randn({c.slope == Slope::Shared ? 1 : c.C});
  if (c.residual) in.residual = input(c, 0.0, 1.0, c.offsets.residual);
  in.running_mean = 0.1 * at::randn({c.C});
  in.running_var = 1.0 + 0.1 * at::rand({c.C});
  in.grad_out = input(c, 0.0, 1.0, c.offsets.grad);
  return in;
}

at::Tensor leaf(const at::Tensor& t, at::ScalarType type) {
  return t.defined() ? t.to(type).detach().requires_grad_(true) : t;
}

// t on `device`, as a leaf of `type` whose data start as many elements into its storage as t's do.
at::Tensor leaf_on(const at::Tensor& t, at::ScalarType type, at::Device device) {
  if (!t.defined() || device.is_cpu()) return leaf(t, type);
  return offset_by(t.to(device, type), t.storage_offset()).detach().requires_grad_(true);
}

at::Tensor on_cpu(const at::Tensor& t) { return t.defined() ? t.cpu() : t; }

at::Tensor grad_of(const at::Tensor& t) { return t.defined() ? t.grad() : t; }

Outcome reference(const Inputs& in) {
  const at::Tensor x = leaf(in.x, at::kDouble), w = leaf(in.weight, at::kDouble), b = leaf(in.bias, at::kDouble);
  // A shared slope as C equal ones: the same function, with each channel's share of its gradient.
  const int64_t C = in.x.size(1);
  const at::Tensor alpha = leaf(in.alpha.defined() ? in.alpha.expand({C}).contiguous() : in.alpha, at::kDouble);
  const at::Tensor residual = leaf(in.residual, at::kDouble);
  Outcome o{};
  o.running_mean = in.running_mean.to(at::kDouble);
  o.running_var = in.running_var.to(at::kDouble);
  at::Tensor y = at::batch_norm(x, w, b, o.running_mean, o.running_var, true, 0.1, 1e-5, false);
  if (alpha.defined()) y = at::prelu(y, alpha);
  if (residual.defined()) y = y + residual;
  (y * in.grad_out.to(at::kDouble)).sum().backward();
  o.out = y.detach();
  o.grad_x = x.grad(), o.grad_weight = w.grad(), o.grad_bias = b.grad();
  o.grad_alpha = grad_of(alpha), o.grad_residual = grad_of(residual);
  if (alpha.defined()) {
    o.alpha_scale = o.grad_alpha.abs().sum().item<double>();
    if (in.alpha.numel() == 1) o.grad_alpha = o.grad_alpha.sum().reshape({1});
  }
  return o;
}

Outcome fused(const Inputs& in, at::ScalarType dtype, at::Device device) {
  const at::Tensor x = leaf_on(in.x, dtype, device), w = leaf_on(in.weight, at::kFloat, device),
                   b = leaf_on(in.bias, at::kFloat, device);
  const at::Tensor alpha = leaf_on(in.alpha, at::kFloat, device), residual = leaf_on(in.residual, dtype, device);
  const at::Tensor running_mean = in.running_mean.to(device, /*non_blocking=*/false, /*copy=*/true);
  const at::Tensor running_var = in.running_var.to(device, /*non_blocking=*/false, /*copy=*/true);
  const NormActParams p{w, b, running_mean, running_var, alpha, 1e-5, 0.1};
  const at::Tensor y = mvface::norm::norm_act(x, p, residual);
  if (y.strides() != x.strides()) std::printf("  output strides differ from the input's\n");
  // The backward's gradient: in.grad_out itself, at its offset.
  y.backward(device.is_cpu() ? in.grad_out : offset_by(in.grad_out.to(device), in.grad_out.storage_offset()));
  Outcome o{};
  o.out = on_cpu(y.detach());
  o.grad_x = on_cpu(x.grad()), o.grad_weight = on_cpu(w.grad()), o.grad_bias = on_cpu(b.grad());
  o.grad_alpha = on_cpu(grad_of(alpha)), o.grad_residual = on_cpu(grad_of(residual));
  o.running_mean = on_cpu(running_mean), o.running_var = on_cpu(running_var);
  return o;
}

// |a - b| <= rounding |b| + 2e-5 scale element by element, scale = max |b| unless given: `rounding`
// is the unit roundoff of the type a was stored in (0 for float32, whose own error the second term
// bounds).
bool close(const char* what, const at::Tensor& a, const at::Tensor& b, double rounding, double given_scale = 0.0) {
  if (a.defined() != b.defined()) {
    std::printf("  %s: defined on one side only\n", what);
    return false;
  }
  if (!a.defined()) return true;
  const at::Tensor ad = a.to(at::kDouble), diff = (ad - b).abs();
  const double scale = given_scale > 0.0 ? given_scale : b.abs().max().item<double>();
  const at::Tensor bound = rounding * b.abs() + 2e-5 * std::max(scale, 1e-12);
  const bool ok = (diff <= bound).all().item<bool>() && ad.isfinite().all().item<bool>();
  if (!ok) std::printf("  %s: max |diff| %.3g (max |ref| %.3g)\n", what, diff.max().item<double>(), scale);
  return ok;
}

bool check(const Case& c, at::Device device) {
  const Inputs in = make_inputs(c);
  const Outcome ref = reference(in), got = fused(in, c.dtype, device);
  const double rounding = c.dtype == at::kBFloat16 ? 1.0 / 256 : 0.0;  // bfloat16's 8 bits: 2^-8
  bool ok = close("out", got.out, ref.out, rounding);
  ok = close("grad x", got.grad_x, ref.grad_x, rounding) && ok;
  ok = close("grad weight", got.grad_weight, ref.grad_weight, 0.0) && ok;
  ok = close("grad bias", got.grad_bias, ref.grad_bias, 0.0) && ok;
  // A shared slope's gradient sums the channels' ones, which cancel: it is as exact as their sizes.
  const double alpha_scale = c.slope == Slope::Shared ? ref.alpha_scale : 0.0;
  ok = close("grad alpha", got.grad_alpha, ref.grad_alpha, 0.0, alpha_scale) && ok;
  ok = close("grad residual", got.grad_residual, ref.grad_residual, 0.0) && ok;
  ok = close("running mean", got.running_mean, ref.running_mean, 0.0) && ok;
  ok = close("running var", got.running_var, ref.running_var, 0.0) && ok;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name().c_str());
  return ok;
}

bool refused(const char* what, const at::Tensor& x, const NormActParams& p, const at::Tensor& residual) {
  if (!mvface::norm::norm_act_supported(x, p, residual)) return true;
  std::printf("FAIL not refused: %s\n", what);
  return false;
}

// A whole backbone's parameter gradients in float32, through the fused pass and through the
// modules, each against the modules in float64 on the same weights and batch: the relative error of
// all the gradients together. The PReLU slopes are 1 here: with millions of PReLU inputs a few lie
// within float32's rounding of the kink at 0, and where float32 and float64 put one on different
// sides, that element's gradient differs by (1 - slope) g, which the batch norms spread over
// everything (errors of 1e-3 in either path, at random); the slope's own gradient still flows, and
// the op checks above cover slopes other than 1. Both paths then land near 1e-6; the fused one
// must be within twice the modules' error (plus 1e-6). A wrong term gives errors of order 1.
bool check_backbone(const std::string& name, at::Device device) {
  mvface::backbones::BackboneOptions o;
  o.name = name, o.input_size = 32, o.in_channels = 1, o.embedding_size = 32, o.block = "ir", o.norm = "batch";
  const auto reference = mvface::backbones::make_backbone(o);
  {
    at::NoGradGuard no_grad;
    for (const auto& p : reference->named_parameters())
      if (p.key().find("prelu") != std::string::npos) p.value().fill_(1.0);
  }
  const at::Tensor images = at::randn({16, 1, 32, 32}), seed = at::randn({16, 32});
  auto gradients = [&](at::ScalarType type, bool fused, at::Device on) {
    const auto model = mvface::backbones::make_backbone(o);
    {
      at::NoGradGuard no_grad;
      for (const auto& p : reference->named_parameters()) model->named_parameters()[p.key()].copy_(p.value());
    }
    model->to(on, type);
    mvface::backbones::use_fused_norm(*model, fused);
    (model->forward(images.to(on, type)) * seed.to(on, type)).sum().backward();
    std::vector<at::Tensor> all;
    for (const auto& p : model->parameters())
      if (p.grad().defined()) all.push_back(p.grad().to(at::kCPU, at::kDouble).flatten());  // not the frozen ones
    return at::cat(all);
  };
  const at::Tensor truth = gradients(at::kDouble, false, at::kCPU);
  const double modules = ((gradients(at::kFloat, false, device) - truth).norm() / truth.norm()).item<double>();
  const double fused = ((gradients(at::kFloat, true, device) - truth).norm() / truth.norm()).item<double>();
  const bool ok = fused <= 2.0 * modules + 1e-6;
  std::printf("%s %s backbone gradients: relative error to float64 %.3g fused, %.3g modules\n", ok ? "ok  " : "FAIL",
              name.c_str(), fused, modules);
  return ok;
}

// Each of x, the residual and the output's gradient one element into its storage (loads of one
// element), and x two in (loads of two), with shapes that take the widest loads when aligned.
int check_offsets(at::Device device, int& total) {
  const Offsets offsets[] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {2, 0, 0}};
  int failed = 0;
  for (const bool channels_last : {false, true}) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      for (const Offsets& o : offsets) {
        ++total;
        failed += !check({4, 8, 8, 8, channels_last, dtype, Slope::PerChannel, true, o}, device);
      }
    }
  }
  return failed;
}

}  // namespace

int check_cases(at::Device device, int& total) {
  const Case shapes[] = {
      {4, 40, 6, 6, false, at::kFloat, Slope::None, false},  // channels-last: a partial tile (8 x 8 or 16 x 4 channels)
      {4, 2, 48, 48, false, at::kFloat, Slope::None, false},  // several splits per channel (NCHW)
      {8, 3, 16, 16, true, at::kFloat, Slope::None, false},   // several splits (channels-last)
      {3, 70, 5, 7, true, at::kFloat, Slope::None, false},
      {16, 2, 64, 64, false, at::kFloat, Slope::None, false},   // several splits with vector loads (NCHW)
      {13, 2, 41, 100, false, at::kFloat, Slope::None, false},  // splits of N H W / 3: not whole loads
      {16, 64, 1, 1, false, at::kFloat, Slope::None, false},    // one value per plane (GDConv's output)
      {16, 64, 8, 8, true, at::kFloat, Slope::None, false},     // several splits of a 64-channel tile (channels-last)
      {2, 520, 3, 1, true, at::kFloat, Slope::None, false},     // tiles of 32 row threads, the last with one live
  };
  int failed = 0;
  for (const Case& shape : shapes) {
    for (const bool channels_last : {false, true}) {
      for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
        for (const Slope slope : {Slope::None, Slope::PerChannel, Slope::Shared}) {
          for (const bool residual : {false, true}) {
            Case c = shape;
            c.channels_last = channels_last, c.dtype = dtype, c.slope = slope, c.residual = residual;
            ++total;
            failed += !check(c, device);
          }
        }
      }
    }
  }
  failed += check_offsets(device, total);
  for (const char* backbone : {"mobilefacenet", "iresnet18"}) {
    ++total;
    failed += !check_backbone(backbone, device);
  }
  return failed;
}

bool check_refusals() {
  const int64_t C = 4;
  const at::Tensor x = at::randn({2, C, 3, 3});
  const NormActParams p{at::ones({C}), at::zeros({C}), at::zeros({C}), at::ones({C}), at::full({C}, 0.25), 1e-5, 0.1};
  bool ok = mvface::norm::norm_act_supported(x, p, {}) &&
            mvface::norm::norm_act_supported(x.contiguous(at::MemoryFormat::ChannelsLast), p, {});
  if (!ok) std::printf("FAIL a valid input was refused\n");
  ok = refused("float16", x.to(at::kHalf), p, {}) && ok;
  ok = refused("float64", x.to(at::kDouble), p, {}) && ok;
  ok = refused("3-d", x.flatten(2), p, {}) && ok;
  ok = refused("one value per channel", at::randn({1, C, 1, 1}), p, {}) && ok;
  ok = refused("a strided view", x.transpose(2, 3), p, {}) && ok;
  ok =
      refused("a residual in another layout", x, p, x.contiguous(at::MemoryFormat::ChannelsLast).transpose(2, 3)) && ok;
  ok = refused("a residual of another type", x, p, x.to(at::kBFloat16)) && ok;
  ok = refused("a residual of another shape", x, p, x.narrow(0, 0, 1).contiguous()) && ok;
  NormActParams wrong = p;
  wrong.weight = at::ones({C + 1});
  ok = refused("a weight of C + 1", x, wrong, {}) && ok;
  wrong = p;
  wrong.alpha = at::full({2}, 0.25);
  ok = refused("2 slopes for 4 channels", x, wrong, {}) && ok;
  wrong = p;
  wrong.running_var = at::Tensor();
  ok = refused("a running mean without a running variance", x, wrong, {}) && ok;
  try {
    mvface::norm::norm_act(x.to(at::kHalf), p, {});
    std::printf("FAIL norm_act took float16\n");
    ok = false;
  } catch (const mvface::Error& e) {
    ok = e.code() == "E_SHAPE" && ok;
  }
  std::printf("%s refusals\n", ok ? "ok  " : "FAIL");
  return ok;
}

}  // namespace mvface::norm_checks
