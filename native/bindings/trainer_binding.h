#pragma once
#include <napi.h>

namespace mvface::bindings {
// createTrainer(options) -> NativeTrainer (lib/train/trainer.ts wraps it).
void register_trainer(Napi::Env env, Napi::Object exports);
}  // namespace mvface::bindings
