#include "tensors.h"

#include <cstring>
#include <string>

#include "errors.h"

namespace mvface::bindings {
namespace {

int64_t integer_field(const Napi::Object& o, const char* key, const char* argument) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_SHAPE", argument, std::string("'") + key + "' must be a non-negative integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)))
    fail("E_SHAPE", argument, std::string("'") + key + "' must be a non-negative integer");
  return static_cast<int64_t>(d);
}

}  // namespace

at::Tensor matrix_view(const Napi::Value& data, int64_t rows, int64_t cols, const char* argument) {
  if (!data.IsTypedArray()) fail("E_SHAPE", argument, "data must be a Float32Array");
  auto array = data.As<Napi::TypedArray>();
  at::ScalarType dtype;
  if (array.TypedArrayType() == napi_float32_array)
    dtype = at::kFloat;
  else if (array.TypedArrayType() == napi_float64_array)
    dtype = at::kDouble;
  else
    fail("E_SHAPE", argument, "data must be a Float32Array");
  if (static_cast<int64_t>(array.ElementLength()) != rows * cols)
    fail("E_SHAPE", argument,
         "data has " + std::to_string(array.ElementLength()) +
             " elements, expected rows x cols = " + std::to_string(rows) + " x " + std::to_string(cols));
  auto* base = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return at::from_blob(base, {rows, cols}, at::TensorOptions().dtype(dtype));
}

at::Tensor matrix_arg(const Napi::Value& matrix, const char* argument) {
  if (!matrix.IsObject()) fail("E_SHAPE", argument, "expected { data, rows, cols }");
  auto o = matrix.As<Napi::Object>();
  return matrix_view(o.Get("data"), integer_field(o, "rows", argument), integer_field(o, "cols", argument), argument);
}

at::Tensor labels_view(const Napi::Value& data, const char* argument) {
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    fail("E_LABEL", argument, "must be an Int32Array");
  auto array = data.As<Napi::Int32Array>();
  return at::from_blob(array.Data(), {static_cast<int64_t>(array.ElementLength())},
                       at::TensorOptions().dtype(at::kInt));
}

Napi::ArrayBuffer tensor_buffer(Napi::Env env, const at::Tensor& tensor) {
  // A copy into memory V8 allocates: V8 frees it when it collects the buffer. Node runs the
  // finalisers of external buffers only when the event loop turns, so a synchronous loop of calls
  // would keep every result's tensor alive however often V8 collects.
  const at::Tensor t = tensor.contiguous().cpu();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, t.numel() * t.element_size());
  if (buffer.ByteLength() > 0) std::memcpy(buffer.Data(), t.data_ptr(), buffer.ByteLength());
  return buffer;
}

Napi::Value to_typed_array(Napi::Env env, const at::Tensor& tensor) {
  const at::Tensor t = tensor.contiguous().cpu();
  Napi::ArrayBuffer buffer = tensor_buffer(env, t);
  const size_t n = static_cast<size_t>(t.numel());
  if (t.scalar_type() == at::kDouble) return Napi::Float64Array::New(env, n, buffer, 0);
  if (t.scalar_type() == at::kInt) return Napi::Int32Array::New(env, n, buffer, 0);
  return Napi::Float32Array::New(env, n, buffer, 0);
}

}  // namespace mvface::bindings
