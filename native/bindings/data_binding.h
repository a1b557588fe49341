#pragma once
// createLoader(spec, options) -> Promise<NativeLoader>: the data pipeline of native/core/data for JS.
#include <napi.h>

#include <memory>

namespace mvface::data {
class BatchLoader;
}

namespace mvface::bindings {

void register_data(Napi::Env env, Napi::Object exports);

// The loader behind a NativeLoader (DataLoader.nativeHandle in lib/data/loader.ts), for bindings that pull
// batches natively. Throws E_CONFIG when `value` is not a NativeLoader or was disposed.
std::shared_ptr<mvface::data::BatchLoader> unwrap_loader(const Napi::Value& value);

}  // namespace mvface::bindings
