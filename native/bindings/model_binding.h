#pragma once
// loadModel / createModel -> Promise<NativeModel>: a trained backbone for embedding (model/inference_model.h).
#include <napi.h>

namespace mvface::bindings {

void register_model(Napi::Env env, Napi::Object exports);

}  // namespace mvface::bindings
