#pragma once
#include <napi.h>

#include <memory>

namespace mvface::dist {
class Comm;
}

namespace mvface::bindings {
// createComm() -> NativeComm: a process group from torchrun's environment variables.
void register_dist(Napi::Env env, Napi::Object exports);
// The Comm of a NativeComm object (E_CONFIG for anything else, or once disposed).
std::shared_ptr<dist::Comm> unwrap_comm(const Napi::Value& value);
}  // namespace mvface::bindings
