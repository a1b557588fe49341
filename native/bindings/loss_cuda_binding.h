#pragma once
#include <napi.h>

namespace mvface::bindings {
// cudaMemoryStats, cudaLossBench and cudaNormBench; in a build without CUDA they throw E_CONFIG
// naming 'device'.
void register_loss_cuda(Napi::Env env, Napi::Object exports);
}  // namespace mvface::bindings
