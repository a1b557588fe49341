// The addon's entry point: backend info, threads, the error factory, and each area's functions.
#include <napi.h>

#include <ATen/ATen.h>

#include "backbone_binding.h"
#include "backend.h"
#include "bench_binding.h"
#include "data_binding.h"
#include "dist_binding.h"
#include "errors.h"
#include "eval_binding.h"
#include "js_errors.h"
#include "loss_binding.h"
#include "model_binding.h"
#include "trainer_binding.h"

namespace mvface::bindings {
namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    BackendInfo b = mvface::backend_info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("libtorchVersion", b.libtorch_version);
    o.Set("libtorchSource", b.libtorch_source);
    o.Set("libtorchTag", b.libtorch_tag);
    o.Set("builtWithCuda", b.built_with_cuda);
    o.Set("cudaAvailable", b.cuda_available);
    Napi::Array devices = Napi::Array::New(env, b.cuda_devices.size());
    for (size_t i = 0; i < b.cuda_devices.size(); ++i) devices.Set(i, b.cuda_devices[i]);
    o.Set("cudaDevices", devices);
    o.Set("blas", b.blas);
    o.Set("threads", b.threads);
    o.Set("onednn", b.onednn);
    Napi::Object tf32 = Napi::Object::New(env);
    tf32.Set("cudnn", b.tf32_cudnn);
    tf32.Set("cublas", b.tf32_cublas);
    o.Set("tf32", tf32);
    o.Set("addonVersion", MVFACE_VERSION);
    return o;
  });
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    const double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (n != static_cast<int>(n)) fail("E_CONFIG", "threads", "must be an integer in [1, 4096]");
    set_thread_count(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

// A deliberately failing libtorch call: shows that a c10::Error reaches JS as an MvfaceError.
Napi::Value native_error_probe(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor a = at::ones({2, 3}), b = at::ones({4, 5});
    at::mm(a, b);
    return info.Env().Undefined();
  });
}

Napi::Value set_error_factory_js(const Napi::CallbackInfo& info) {
  set_error_factory(info);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  init_error_factory(env);
  init_backend();
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory_js, "setErrorFactory"));
  exports.Set("nativeErrorProbe", Napi::Function::New(env, native_error_probe, "nativeErrorProbe"));
  register_loss(env, exports);
  register_backbones(env, exports);
  register_model(env, exports);
  register_data(env, exports);
  register_trainer(env, exports);
  register_eval(env, exports);
  register_dist(env, exports);
  register_bench(env, exports);
  return exports;
}

}  // namespace mvface::bindings

static Napi::Object InitMvface(Napi::Env env, Napi::Object exports) { return mvface::bindings::init(env, exports); }

NODE_API_MODULE(mvface, InitMvface)
