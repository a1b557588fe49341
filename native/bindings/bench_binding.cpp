// Benchmark helpers: the input pipeline alone, timed natively (no copy into JS), for
// `mvface bench train`; the fused batch norm against the modules on CUDA, for bench/norm-gpu.ts.
#include "bench_binding.h"

#include <chrono>

#include "data/loader.h"
#include "data_binding.h"
#include "errors.h"
#include "js_errors.h"
#include "loss/device.h"
#include "worker.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/norm_bench.h"
#endif

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
    if (!(n >= 1) || n != static_cast<double>(static_cast<int64_t>(n))) fail("E_CONFIG", "batches", "must be an integer >= 1");
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

int64_t positive_field(const Napi::Object& o, const char* key, int64_t fallback) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 1) || d != static_cast<double>(static_cast<int64_t>(d))) fail("E_CONFIG", key, "must be an integer >= 1");
  return static_cast<int64_t>(d);
}

bool flag_field(const Napi::Object& o, const char* key, bool fallback) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) fail("E_CONFIG", key, "must be true or false");
  return v.As<Napi::Boolean>().Value();
}

// cudaNormBench({ N, C, H, W, dtype: 'bf16' | 'fp32', channelsLast, prelu, residual, repeats })
// -> [{ name, medianMs, savedBytes }] for 'modules' and 'fused' (synchronous: a few seconds).
Napi::Value cuda_norm_bench(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_CONFIG", "case", "expected { N, C, H, W, dtype, ... }");
    const auto o = info[0].As<Napi::Object>();
    const std::string dtype = o.Get("dtype").IsString() ? o.Get("dtype").As<Napi::String>().Utf8Value() : "bf16";
    if (dtype != "bf16" && dtype != "fp32") fail("E_CONFIG", "dtype", "must be 'bf16' or 'fp32'");
    const int64_t N = positive_field(o, "N", 256), C = positive_field(o, "C", 64), H = positive_field(o, "H", 56),
                  W = positive_field(o, "W", 56), repeats = positive_field(o, "repeats", 20);
    const bool channels_last = flag_field(o, "channelsLast", false), prelu = flag_field(o, "prelu", true),
               residual = flag_field(o, "residual", false);
    loss::require_cuda();
    Napi::Array out = Napi::Array::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const cuda::NormBenchCase c{N, C, H, W, dtype == "bf16", channels_last, prelu, residual, static_cast<int>(repeats)};
    const auto timed = cuda::time_norm_cuda(c);
    for (size_t i = 0; i < timed.size(); ++i) {
      Napi::Object row = Napi::Object::New(info.Env());
      row.Set("name", timed[i].name);
      row.Set("medianMs", timed[i].median_ms);
      row.Set("savedBytes", static_cast<double>(timed[i].saved_bytes));
      out.Set(static_cast<uint32_t>(i), row);
    }
#else
    (void)N, (void)C, (void)H, (void)W, (void)repeats, (void)channels_last, (void)prelu, (void)residual;
#endif
    return out;
  });
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object exports) {
  exports.Set("drainLoader", Napi::Function::New(env, drain_loader, "drainLoader"));
  exports.Set("cudaNormBench", Napi::Function::New(env, cuda_norm_bench, "cudaNormBench"));
}

}  // namespace mvface::bindings
