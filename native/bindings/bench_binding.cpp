// Benchmark helpers: the input pipeline alone, timed natively (no copy into JS), for
// `mvface bench train`.
#include "bench_binding.h"

#include <chrono>

#include "data/loader.h"
#include "data_binding.h"
#include "errors.h"
#include "js_errors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

struct Drained {
  int64_t batches = 0, samples = 0;
  double seconds = 0;
};

// drainLoader(loader, batches): pulls up to `batches` batches of the started epoch as the trainer
// does (decoded, flipped and normalised by the loader's native threads) and drops them.
Napi::Value drain_loader(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto loader = unwrap_loader(info[0]);
    const double n = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 1) || n != static_cast<double>(static_cast<int64_t>(n)))
      fail("E_CONFIG", "batches", "must be an integer >= 1");
    const int64_t batches = static_cast<int64_t>(n);
    return PromiseWorker<Drained>::Start(
        info.Env(),
        [loader, batches]() {
          Drained d;
          const auto t0 = std::chrono::steady_clock::now();
          while (d.batches < batches) {
            auto batch = loader->next();
            if (!batch) break;
            d.batches += 1;
            d.samples += batch->labels.size(0);
          }
          d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          return d;
        },
        [](Napi::Env env, Drained& d) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("batches", static_cast<double>(d.batches));
          o.Set("samples", static_cast<double>(d.samples));
          o.Set("seconds", d.seconds);
          return o;
        });
  });
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object exports) {
  exports.Set("drainLoader", Napi::Function::New(env, drain_loader, "drainLoader"));
}

}  // namespace mvface::bindings
