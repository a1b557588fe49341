// marginLoss / marginLossAsync / lossReference / gemmFloor: argument plumbing only.
#include "loss_binding.h"

#include <string>

#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "loss/device.h"
#include "loss/dispatch.h"
#include "loss/loss.h"
#include "loss_cuda_binding.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using loss::LossConfig;
using loss::LossResult;

}  // namespace

// The fully resolved config that lib/loss/margin-loss.ts builds (every field present).
LossConfig loss_config_arg(const Napi::Value& value) {
  if (!value.IsObject()) fail("E_CONFIG", "config", "must be an object");
  auto o = value.As<Napi::Object>();
  LossConfig c;
  c.type = loss::parse_head_type(string_field(o, "type"));
  c.scale = number_field(o, "scale");
  c.margin = number_field(o, "margin");
  c.m1 = number_field(o, "m1");
  c.m2 = number_field(o, "m2");
  c.m3 = number_field(o, "m3");
  c.mode = loss::parse_mv_mode(string_field(o, "mode"));
  c.t = number_field(o, "t");
  c.easy_margin = o.Get("easyMargin").ToBoolean();
  const double sphere_m = number_field(o, "sphereM");
  if (sphere_m != static_cast<int>(sphere_m)) fail("E_CONFIG", "m", "must be an integer for sphereface");
  c.sphere_m = static_cast<int>(sphere_m);
  c.sphere_lambda = number_field(o, "sphereLambda");
  c.mining = loss::parse_mining(string_field(o, "mining"));
  c.focal_gamma = number_field(o, "focalGamma");
  c.hm_ratio = number_field(o, "hmRatio");
  loss::validate_config(c);
  return c;
}

namespace {

struct LossCall {
  LossConfig config;
  at::Tensor x, weight, labels;
  loss::LossRoute route;
};

// The rest of the 5th argument: { chunkClasses, sampleRate, sampleSeed } (checked by lib/loss/margin-loss.ts).
void routing_args(const Napi::CallbackInfo& info, LossCall& call) {
  if (info.Length() < 5 || !info[4].IsObject()) return;
  auto o = info[4].As<Napi::Object>();
  if (!o.Get("chunkClasses").IsUndefined())
    call.route.fused.block_classes = static_cast<int64_t>(number_field(o, "chunkClasses"));
  if (!o.Get("sampleRate").IsUndefined()) call.route.sample_rate = number_field(o, "sampleRate");
  if (!o.Get("sampleSeed").IsUndefined()) call.route.sample_seed = static_cast<uint64_t>(number_field(o, "sampleSeed"));
  loss::validate_route(call.route);
}

// The optional 5th argument { device: 'cpu' | 'cuda', dtype: 'float32' | 'bfloat16' }.
loss::LossDevice device_arg(const Napi::CallbackInfo& info) {
  if (info.Length() < 5 || info[4].IsUndefined()) return {};
  if (!info[4].IsObject()) fail("E_CONFIG", "options", "must be an object");
  auto o = info[4].As<Napi::Object>();
  const std::string device = o.Get("device").IsUndefined() ? "cpu" : string_field(o, "device");
  const std::string dtype = o.Get("dtype").IsUndefined() ? "float32" : string_field(o, "dtype");
  return loss::parse_loss_device(device, dtype);
}

LossCall loss_call(const Napi::CallbackInfo& info) {
  if (info.Length() < 4) fail("E_CONFIG", "", "expected (config, embeddings, weight, labels)");
  LossCall call;
  call.config = loss_config_arg(info[0]);
  call.x = matrix_arg(info[1], "embeddings");
  call.weight = matrix_arg(info[2], "weight");
  call.labels = labels_view(info[3], "labels");
  call.route.device = device_arg(info);
  routing_args(info, call);
  return call;
}

}  // namespace

Napi::Value loss_result_object(Napi::Env env, LossResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("gradEmbeddings", to_typed_array(env, r.grad_embeddings));
  o.Set("gradWeight", to_typed_array(env, r.grad_weight));
  o.Set("hardFraction", r.hard_fraction);
  o.Set("meanTargetCos", r.mean_target_cos);
  return o;
}

namespace {

Napi::Value margin_loss(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) {
    LossCall c = loss_call(info);
    LossResult r = loss::routed_loss(c.config, c.x, c.weight, c.labels, c.route);
    return loss_result_object(info.Env(), r);
  });
}

Napi::Value margin_loss_async(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    LossCall c = loss_call(info);
    c.x = c.x.clone(), c.weight = c.weight.clone(), c.labels = c.labels.clone();
    return PromiseWorker<LossResult>::Start(
        info.Env(), [c]() { return loss::routed_loss(c.config, c.x, c.weight, c.labels, c.route); },
        loss_result_object);
  });
}

Napi::Value loss_reference(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) {
    LossCall c = loss_call(info);
    LossResult r = loss::reference_loss(c.config, c.x, c.weight, c.labels);
    return loss_result_object(info.Env(), r);
  });
}

// gemmFloor(xhat, what, repeats) -> seconds per repeat of the three GEMMs (benchmark baseline).
Napi::Value gemm_floor(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor xhat = matrix_arg(info[0], "embeddings"), what = matrix_arg(info[1], "weight");
    at::Tensor buffer = at::empty({xhat.size(0), what.size(0)}, xhat.options());
    at::Tensor gx = at::empty_like(xhat), gw = at::empty_like(what);
    loss::gemm_floor(xhat, what, buffer, gx, gw);
    return info.Env().Undefined();
  });
}

}  // namespace

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("marginLoss", Napi::Function::New(env, margin_loss, "marginLoss"));
  exports.Set("marginLossAsync", Napi::Function::New(env, margin_loss_async, "marginLossAsync"));
  exports.Set("lossReference", Napi::Function::New(env, loss_reference, "lossReference"));
  exports.Set("gemmFloor", Napi::Function::New(env, gemm_floor, "gemmFloor"));
  register_loss_cuda(env, exports);
}

}  // namespace mvface::bindings
