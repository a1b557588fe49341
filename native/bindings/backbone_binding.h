#pragma once
#include <napi.h>

#include "backbones/backbone.h"

namespace mvface::bindings {

// The fully resolved backbone config that lib/model/backbones.ts builds (every field present); type checks
// only, ranges are checked by backbones::validate_options.
backbones::BackboneOptions backbone_options_arg(const Napi::Value& value);

void register_backbones(Napi::Env env, Napi::Object exports);

}  // namespace mvface::bindings
