// backboneInfo / backboneForward: argument plumbing only. Both build the model on a worker thread.
#include "backbone_binding.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "js_errors.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using backbones::BackboneOptions;

int64_t integer(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_CONFIG", key, "must be an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::abs(d) < 9007199254740992.0) || d != static_cast<double>(static_cast<int64_t>(d)))
    fail("E_CONFIG", key, "must be an integer");
  return static_cast<int64_t>(d);
}

int64_t element_count(const std::vector<at::Tensor>& tensors) {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

struct Info {
  int64_t parameters = 0, decay = 0, no_decay = 0;
  std::vector<int64_t> output_shape;  // empty when no forward ran
  std::vector<std::pair<std::string, std::vector<int64_t>>> state_shapes;
};

Info describe(const BackboneOptions& options, bool forward) {
  auto model = backbones::make_backbone(options);
  Info info;
  info.parameters = backbones::parameter_count(*model);
  info.decay = element_count(backbones::decay_parameters(*model));
  info.no_decay = element_count(backbones::no_decay_parameters(*model));
  for (const auto& p : model->named_parameters()) info.state_shapes.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model->named_buffers()) info.state_shapes.emplace_back(b.key(), b.value().sizes().vec());
  if (forward) {
    at::NoGradGuard no_grad;
    model->eval();
    const int64_t s = options.input_size;
    info.output_shape = model->forward(at::zeros({2, options.in_channels, s, s})).sizes().vec();
  }
  return info;
}

Napi::Array shape_array(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(i, static_cast<double>(shape[i]));
  return a;
}

Napi::Value info_object(Napi::Env env, Info& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("parameters", static_cast<double>(info.parameters));
  o.Set("decayParameters", static_cast<double>(info.decay));
  o.Set("noDecayParameters", static_cast<double>(info.no_decay));
  if (!info.output_shape.empty()) o.Set("outputShape", shape_array(env, info.output_shape));
  Napi::Object shapes = Napi::Object::New(env);
  for (const auto& [key, shape] : info.state_shapes) shapes.Set(key, shape_array(env, shape));
  o.Set("stateShapes", shapes);
  return o;
}

// backboneInfo(options, forward) -> Promise<{ parameters, decayParameters, noDecayParameters, outputShape?,
// stateShapes }>
Napi::Value backbone_info(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    BackboneOptions options = backbone_options_arg(info[0]);
    const bool forward = info[1].ToBoolean();
    return PromiseWorker<Info>::Start(
        info.Env(), [options, forward]() { return describe(options, forward); }, info_object);
  });
}

at::Tensor seeded_forward(const BackboneOptions& options, uint64_t seed, const at::Tensor& images) {
  std::shared_ptr<backbones::Backbone> model = backbones::make_seeded_backbone(options, seed);
  at::NoGradGuard no_grad;
  model->eval();
  return model->forward(images);
}

// backboneForward(options, seed, images, n) -> Promise<Float32Array> (n x embeddingSize, eval mode)
Napi::Value backbone_forward(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 4) fail("E_CONFIG", "", "expected (options, seed, images, n)");
    BackboneOptions options = backbone_options_arg(info[0]);
    const double seed = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(seed >= 0 && seed <= 9007199254740991.0) || seed != std::floor(seed)) {
      fail("E_CONFIG", "seed", "must be a non-negative integer");
    }
    const double n = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 0;
    if (!(n >= 1 && n <= 1e9) || n != std::floor(n)) fail("E_SHAPE", "n", "must be a positive integer");
    backbones::validate_options(options);
    const int64_t s = options.input_size, per_image = options.in_channels * s * s;
    const at::Tensor images = matrix_view(info[2], static_cast<int64_t>(n), per_image, "images")
                                  .view({static_cast<int64_t>(n), options.in_channels, s, s})
                                  .clone();
    if (images.scalar_type() != at::kFloat) fail("E_SHAPE", "images", "must be a Float32Array");
    return PromiseWorker<at::Tensor>::Start(
        info.Env(), [options, seed, images]() { return seeded_forward(options, static_cast<uint64_t>(seed), images); },
        [](Napi::Env env, at::Tensor& t) { return to_typed_array(env, t); });
  });
}

}  // namespace

backbones::BackboneOptions backbone_options_arg(const Napi::Value& value) {
  if (!value.IsObject()) fail("E_CONFIG", "backbone", "must be an object");
  auto o = value.As<Napi::Object>();
  if (!o.Get("name").IsString()) fail("E_CONFIG", "backbone", "name must be a string");
  if (!o.Get("block").IsString()) fail("E_CONFIG", "block", "must be a string");
  if (!o.Get("dropout").IsNumber()) fail("E_CONFIG", "dropout", "must be a number");
  if (!o.Get("norm").IsString()) fail("E_CONFIG", "norm", "must be a string");
  BackboneOptions b;
  b.name = o.Get("name").As<Napi::String>().Utf8Value();
  b.embedding_size = integer(o, "embeddingSize");
  b.input_size = integer(o, "inputSize");
  b.in_channels = integer(o, "inChannels");
  b.block = o.Get("block").As<Napi::String>().Utf8Value();
  b.dropout = o.Get("dropout").As<Napi::Number>().DoubleValue();
  b.norm = o.Get("norm").As<Napi::String>().Utf8Value();
  return b;
}

void register_backbones(Napi::Env env, Napi::Object exports) {
  exports.Set("backboneInfo", Napi::Function::New(env, backbone_info, "backboneInfo"));
  exports.Set("backboneForward", Napi::Function::New(env, backbone_forward, "backboneForward"));
}

}  // namespace mvface::bindings
