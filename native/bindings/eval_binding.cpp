// Argument plumbing between lib/eval/sets.ts and mvface::data::decode_image_batch.
#include "eval_binding.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "data/image_batch.h"
#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

// Copies the bytes: the JS buffers may change or be collected while the decoder runs.
std::vector<std::vector<uint8_t>> copy_buffers(const Napi::Value& value) {
  if (!value.IsArray()) fail("E_CONFIG", "buffers", "must be an array of Buffers");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::vector<uint8_t>> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsTypedArray() || item.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      fail("E_CONFIG", "buffers", "item " + std::to_string(i) + " is not a Buffer or Uint8Array");
    Napi::Uint8Array bytes = item.As<Napi::Uint8Array>();
    out[i].assign(bytes.Data(), bytes.Data() + bytes.ElementLength());
  }
  return out;
}

Napi::Value images_object(Napi::Env env, at::Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("images", to_typed_array(env, t));
  o.Set("count", t.size(0));
  o.Set("channels", t.size(1));
  o.Set("height", t.size(2));
  o.Set("width", t.size(3));
  return o;
}

Napi::Value decode_images(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto encoded = std::make_shared<std::vector<std::vector<uint8_t>>>(copy_buffers(info[0]));
    const int channels = static_cast<int>(integer_value(info[1], "channels", 1, 3));
    const int64_t size = info[2].IsUndefined() ? 0 : integer_value(info[2], "size", 0, 4096);  // 0: as decoded
    return PromiseWorker<at::Tensor>::Start(
        info.Env(), [encoded, channels, size] { return data::decode_image_batch(*encoded, channels, size); },
        images_object);
  });
}

// Float32Array of n x 10 (x, y of the five points per image) -> n landmark sets; E_SHAPE for a
// wrong length or a value that is not finite.
std::vector<data::Landmarks> landmarks_arg(const Napi::Value& value, size_t n) {
  const at::Tensor t = matrix_view(value, static_cast<int64_t>(n), 10, "landmarks").to(at::kDouble).contiguous();
  if (!at::isfinite(t).all().item<bool>()) fail("E_SHAPE", "landmarks", "must be finite numbers");
  const double* p = t.data_ptr<double>();
  std::vector<data::Landmarks> out(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 5; ++k) out[i][k] = {p[i * 10 + 2 * k], p[i * 10 + 2 * k + 1]};
  return out;
}

// alignFaces(buffers, landmarks: Float32Array n x 10, channels, size) -> Promise<DecodedImages>
Napi::Value align_faces(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto encoded = std::make_shared<std::vector<std::vector<uint8_t>>>(copy_buffers(info[0]));
    const std::vector<data::Landmarks> landmarks = landmarks_arg(info[1], encoded->size());
    const int channels = static_cast<int>(integer_value(info[2], "channels", 1, 3));
    const int64_t size = integer_value(info[3], "size", 1, 4096);
    return PromiseWorker<at::Tensor>::Start(
        info.Env(),
        [encoded, landmarks, channels, size] { return data::align_image_batch(*encoded, channels, landmarks, size); },
        images_object);
  });
}

}  // namespace

void register_eval(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeImages", Napi::Function::New(env, decode_images, "decodeImages"));
  exports.Set("alignFaces", Napi::Function::New(env, align_faces, "alignFaces"));
}

}  // namespace mvface::bindings
