// NativeModel: argument plumbing for model::InferenceModel. Inputs are copied before a call is
// queued, so that a caller changing or transferring its arrays cannot touch a call in flight.
#include "model_binding.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>
#include <string>

#include "backbone_binding.h"
#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "model/inference_model.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using ModelPtr = std::shared_ptr<model::InferenceModel>;

constexpr napi_type_tag kModelTag = {0x6d76666163652d6dull, 0x6f64656c2d746167ull};

Napi::Object state_entry(Napi::Env env, const std::string& name, const at::Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", name);
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.size(i)));
  o.Set("shape", shape);
  o.Set("data", to_typed_array(env, t.is_floating_point() ? t.to(at::kFloat) : t.to(at::kDouble)));
  return o;
}

// [{ name, shape, data: Float32Array | Float64Array }] -> copies, shaped.
model::NamedTensors state_arg(const Napi::Value& value) {
  if (!value.IsArray()) fail("E_CONFIG", "state", "must be an array of { name, shape, data }");
  const Napi::Array entries = value.As<Napi::Array>();
  model::NamedTensors out;
  for (uint32_t i = 0; i < entries.Length(); ++i) {
    const Napi::Value e = entries.Get(i);
    if (!e.IsObject() || !e.As<Napi::Object>().Get("name").IsString() || !e.As<Napi::Object>().Get("shape").IsArray())
      fail("E_CONFIG", "state", "entry " + std::to_string(i) + " must be { name, shape, data }");
    const Napi::Object o = e.As<Napi::Object>();
    const std::string name = o.Get("name").As<Napi::String>().Utf8Value();
    const Napi::Array dims = o.Get("shape").As<Napi::Array>();
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (uint32_t d = 0; d < dims.Length(); ++d) {
      shape.push_back(dims.Get(d).IsNumber() ? dims.Get(d).As<Napi::Number>().Int64Value() : -1);
      if (shape.back() < 0) fail("E_CONFIG", "state", name + ": shape must hold non-negative integers");
      numel *= shape.back();
    }
    out.emplace_back(name, matrix_view(o.Get("data"), 1, numel, "state").reshape(shape).clone());
  }
  return out;
}

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod<&NativeModel::embed>("embed"), InstanceMethod<&NativeModel::state>("state"),
                        InstanceMethod<&NativeModel::set_state>("setState"), InstanceMethod<&NativeModel::save>("save"),
                        InstanceMethod<&NativeModel::dispose>("dispose")});
  }

  // Only loadModel and createModel construct these: info[0] is an External holding the model.
  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    if (info.Length() < 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "use loadModel() or createModel()");
    model_ = *info[0].As<Napi::External<ModelPtr>>().Data();
    info.This().As<Napi::Object>().TypeTag(&kModelTag);
  }

 private:
  ModelPtr live() const {
    if (!model_) fail("E_CONFIG", "model", "was disposed");
    return model_;
  }

  // embed(images: Float32Array, n) -> Promise<Float32Array> (n x embeddingSize, raw)
  Napi::Value embed(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      ModelPtr m = live();
      const auto& o = m->options();
      const int64_t n = integer_value(info[1], "n", 1, 1000000000, "E_SHAPE"), s = o.input_size;
      const at::Tensor images = matrix_view(info[0], n, o.in_channels * s * s, "images")
                                    .to(at::kFloat)
                                    .view({n, o.in_channels, s, s})
                                    .clone();
      return PromiseWorker<at::Tensor>::Start(
          info.Env(), [m, images]() { return m->embed(images); },
          [](Napi::Env env, at::Tensor& t) { return to_typed_array(env, t); });
    });
  }

  // state() -> Promise<[{ name, shape, data }]>
  Napi::Value state(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      ModelPtr m = live();
      return PromiseWorker<model::NamedTensors>::Start(
          info.Env(), [m]() { return m->state(); },
          [](Napi::Env env, model::NamedTensors& state) -> Napi::Value {
            Napi::Array a = Napi::Array::New(env, state.size());
            for (size_t i = 0; i < state.size(); ++i)
              a.Set(static_cast<uint32_t>(i), state_entry(env, state[i].first, state[i].second));
            return a;
          });
    });
  }

  // setState(entries) -> Promise<void>
  Napi::Value set_state(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      ModelPtr m = live();
      const model::NamedTensors state = state_arg(info[0]);
      return PromiseWorker<bool>::Start(
          info.Env(), [m, state]() { return m->set_state(state), true; },
          [](Napi::Env env, bool&) { return env.Undefined(); });
    });
  }

  // save(path) -> Promise<void>: model.pt
  Napi::Value save(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      ModelPtr m = live();
      const std::string path = string_arg(info, 0, "path");
      return PromiseWorker<bool>::Start(
          info.Env(), [m, path]() { return m->save(path), true; },
          [](Napi::Env env, bool&) { return env.Undefined(); });
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }

  ModelPtr model_;
};

Napi::Value settle_model(Napi::Env env, Napi::FunctionReference* constructor, ModelPtr& model) {
  return constructor->New({Napi::External<ModelPtr>::New(env, &model)});
}

// loadModel(backbone, path, device) -> Promise<NativeModel>
Napi::Value load_model(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    const backbones::BackboneOptions options = backbone_options_arg(info[0]);
    const std::string path = string_arg(info, 1, "path"), device = string_arg(info, 2, "device");
    auto* constructor = static_cast<Napi::FunctionReference*>(info.Data());
    return PromiseWorker<ModelPtr>::Start(
        info.Env(),
        [options, path, device]() { return std::make_shared<model::InferenceModel>(options, path, device); },
        [constructor](Napi::Env env, ModelPtr& m) { return settle_model(env, constructor, m); });
  });
}

// createModel(backbone, seed, device) -> Promise<NativeModel>: the seeded initialisation.
Napi::Value create_model(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    const backbones::BackboneOptions options = backbone_options_arg(info[0]);
    const int64_t seed = integer_value(info[1], "seed");
    const std::string device = string_arg(info, 2, "device");
    auto* constructor = static_cast<Napi::FunctionReference*>(info.Data());
    return PromiseWorker<ModelPtr>::Start(
        info.Env(),
        [options, seed, device]() {
          return std::make_shared<model::InferenceModel>(options, static_cast<uint64_t>(seed), device);
        },
        [constructor](Napi::Env env, ModelPtr& m) { return settle_model(env, constructor, m); });
  });
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  auto* constructor = new Napi::FunctionReference(Napi::Persistent(NativeModel::define(env)));
  env.AddCleanupHook([constructor] { delete constructor; });
  exports.Set("loadModel", Napi::Function::New(env, load_model, "loadModel", constructor));
  exports.Set("createModel", Napi::Function::New(env, create_model, "createModel", constructor));
}

}  // namespace mvface::bindings
