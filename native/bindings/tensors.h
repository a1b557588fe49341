#pragma once
// Typed arrays <-> tensors. Inputs are wrapped without a copy (a call that reads them off the main
// thread must clone them first); outputs are copied into ArrayBuffers that V8 allocates and frees.
#include <ATen/ATen.h>
#include <napi.h>

namespace mvface::bindings {

// A Float32Array / Float64Array viewed as a rows x cols tensor, or Int32Array as a vector.
at::Tensor matrix_view(const Napi::Value& data, int64_t rows, int64_t cols, const char* argument);
at::Tensor labels_view(const Napi::Value& data, const char* argument);
Napi::Value to_typed_array(Napi::Env env, const at::Tensor& tensor);
// A copy of the tensor's memory as an ArrayBuffer.
Napi::ArrayBuffer tensor_buffer(Napi::Env env, const at::Tensor& tensor);

// Reads {data, rows, cols} into a tensor view.
at::Tensor matrix_arg(const Napi::Value& matrix, const char* argument);

}  // namespace mvface::bindings
