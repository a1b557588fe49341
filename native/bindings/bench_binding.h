#pragma once
#include <napi.h>

namespace mvface::bindings {
// drainLoader(loader, batches) -> Promise<{batches, samples, seconds}>: the input pipeline alone.
void register_bench(Napi::Env env, Napi::Object exports);
}  // namespace mvface::bindings
