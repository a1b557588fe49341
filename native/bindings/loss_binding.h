#pragma once
#include <napi.h>

namespace mvface::bindings {
void register_loss(Napi::Env env, Napi::Object exports);
}
