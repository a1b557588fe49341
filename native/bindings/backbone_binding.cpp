// backboneInfo / backboneForward: argument plumbing only. Both build the model on a worker thread.
#include "backbone_binding.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "backbones/summary.h"
#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using backbones::BackboneOptions;

Napi::Array shape_array(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(i, static_cast<double>(shape[i]));
  return a;
}

Napi::Value info_object(Napi::Env env, backbones::BackboneSummary& info) {
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
    return PromiseWorker<backbones::BackboneSummary>::Start(
        info.Env(), [options, forward]() { return backbones::summarize(options, forward); }, info_object);
  });
}

// backboneForward(options, seed, images, n) -> Promise<Float32Array> (n x embeddingSize, eval mode)
Napi::Value backbone_forward(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 4) fail("E_CONFIG", "", "expected (options, seed, images, n)");
    BackboneOptions options = backbone_options_arg(info[0]);
    const int64_t seed = integer_value(info[1], "seed");
    const int64_t n = integer_value(info[3], "n", 1, 1000000000, "E_SHAPE");
    backbones::validate_options(options);
    const int64_t s = options.input_size, per_image = options.in_channels * s * s;
    const at::Tensor images = matrix_view(info[2], static_cast<int64_t>(n), per_image, "images")
                                  .view({static_cast<int64_t>(n), options.in_channels, s, s})
                                  .clone();
    if (images.scalar_type() != at::kFloat) fail("E_SHAPE", "images", "must be a Float32Array");
    return PromiseWorker<at::Tensor>::Start(
        info.Env(),
        [options, seed, images]() {
          return backbones::seeded_embeddings(options, static_cast<uint64_t>(seed), images);
        },
        [](Napi::Env env, at::Tensor& t) { return to_typed_array(env, t); });
  });
}

}  // namespace

backbones::BackboneOptions backbone_options_arg(const Napi::Value& value) {
  if (!value.IsObject()) fail("E_CONFIG", "backbone", "must be an object");
  auto o = value.As<Napi::Object>();
  BackboneOptions b;
  b.name = string_field(o, "name");
  b.embedding_size = integer_field(o, "embeddingSize");
  b.input_size = integer_field(o, "inputSize");
  b.in_channels = integer_field(o, "inChannels");
  b.block = string_field(o, "block");
  b.dropout = number_field(o, "dropout");
  b.norm = string_field(o, "norm");
  return b;
}

void register_backbones(Napi::Env env, Napi::Object exports) {
  exports.Set("backboneInfo", Napi::Function::New(env, backbone_info, "backboneInfo"));
  exports.Set("backboneForward", Napi::Function::New(env, backbone_forward, "backboneForward"));
}

}  // namespace mvface::bindings
