#pragma once
// Typed arrays <-> tensors. Inputs are wrapped without a copy (the caller keeps the array alive);
// outputs hand the tensor's memory to JS as an external ArrayBuffer that frees it when collected.
#include <ATen/ATen.h>
#include <napi.h>

namespace mvface::bindings {

// A Float32Array / Float64Array viewed as a rows x cols tensor, or Int32Array as a vector.
at::Tensor matrix_view(const Napi::Value& data, int64_t rows, int64_t cols, const char* argument);
at::Tensor labels_view(const Napi::Value& data, const char* argument);
Napi::Value to_typed_array(Napi::Env env, const at::Tensor& tensor);
// The tensor's memory as an ArrayBuffer (external, freed when collected; a copy from 4 GiB up).
Napi::ArrayBuffer tensor_buffer(Napi::Env env, const at::Tensor& tensor);

// Reads {data, rows, cols} into a tensor view; the object is what must be kept alive.
at::Tensor matrix_arg(const Napi::Value& matrix, const char* argument);

}  // namespace mvface::bindings
