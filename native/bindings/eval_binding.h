#pragma once
// decodeImages(buffers, channels, size?) -> Promise<{images, count, channels, height, width}>.
#include <napi.h>

namespace mvface::bindings {

void register_eval(Napi::Env env, Napi::Object exports);

}  // namespace mvface::bindings
