#pragma once
#include <napi.h>

#include "loss/config.h"
#include "loss/loss.h"

namespace mvface::bindings {
void register_loss(Napi::Env env, Napi::Object exports);
// Reads the resolved head config built by lib/loss/margin-loss.ts (resolveHeadConfig); throws E_CONFIG.
loss::LossConfig loss_config_arg(const Napi::Value& value);
// { loss, gradEmbeddings, gradWeight, hardFraction, meanTargetCos }, the shape of lib/loss/margin-loss.ts's LossResult.
Napi::Value loss_result_object(Napi::Env env, loss::LossResult& r);
}  // namespace mvface::bindings
