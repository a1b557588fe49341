#pragma once
#include <napi.h>

#include "loss/config.h"

namespace mvface::bindings {
void register_loss(Napi::Env env, Napi::Object exports);
// Reads the resolved head config built by lib/loss.ts (resolveHeadConfig); throws E_CONFIG.
loss::LossConfig loss_config_arg(const Napi::Value& value);
}  // namespace mvface::bindings
