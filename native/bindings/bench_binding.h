#pragma once
#include <napi.h>

namespace mvface::bindings {
// drainLoader(loader, batches) -> Promise<{batches, samples, seconds}>: the input pipeline alone.
// cudaNormBench(case) -> [{name, medianMs, savedBytes}]: the fused batch norm against the modules.
void register_bench(Napi::Env env, Napi::Object exports);
}
