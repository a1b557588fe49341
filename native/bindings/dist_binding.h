#pragma once
#include <napi.h>

namespace mvface::bindings {
// createComm() -> NativeComm: a process group from torchrun's environment variables.
void register_dist(Napi::Env env, Napi::Object exports);
}
