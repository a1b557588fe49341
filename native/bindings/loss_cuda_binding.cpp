// cudaMemoryStats(resetPeak?) and cudaLossBench(config, sizes): argument plumbing only.
#include "loss_cuda_binding.h"

#include <string>
#include <vector>

#include "errors.h"
#include "js_errors.h"
#include "loss/device.h"
#include "loss_binding.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/bench.h"
#include "cuda/host/memory.h"
#endif

namespace mvface::bindings {
namespace {

// Returns { allocatedBytes, peakAllocatedBytes, reservedBytes } of libtorch's CUDA caching
// allocator on the current device, then resets the peak when asked to.
Napi::Value cuda_memory_stats(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    loss::require_cuda();
    Napi::Object o = Napi::Object::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const cuda::MemoryStats m = cuda::memory_stats();
    o.Set("allocatedBytes", static_cast<double>(m.allocated));
    o.Set("peakAllocatedBytes", static_cast<double>(m.peak_allocated));
    o.Set("reservedBytes", static_cast<double>(m.reserved));
    if (info.Length() > 0 && info[0].ToBoolean()) cuda::reset_peak_memory();
#endif
    return o;
  });
}

int64_t size_field(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 1) || d != static_cast<double>(static_cast<int64_t>(d)))
    fail("E_CONFIG", key, "must be an integer >= 1");
  return static_cast<int64_t>(d);
}

std::vector<std::string> variant_names(const Napi::Object& o) {
  if (!o.Get("variants").IsArray()) fail("E_CONFIG", "variants", "must be an array of 'fused' | 'chunked' | 'floor'");
  auto array = o.Get("variants").As<Napi::Array>();
  std::vector<std::string> names;
  for (uint32_t i = 0; i < array.Length(); ++i) names.push_back(array.Get(i).ToString().Utf8Value());
  return names;
}

// cudaLossBench(config, { B, D, C, repeats, variants }) -> [{ name, medianMs, peakExtraBytes }]:
// device-resident random data, so no host copies are timed (bench/loss-worker.ts).
Napi::Value cuda_loss_bench(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    const loss::LossConfig config = loss_config_arg(info[0]);
    if (info.Length() < 2 || !info[1].IsObject()) fail("E_CONFIG", "sizes", "expected { B, D, C, repeats, variants }");
    const auto o = info[1].As<Napi::Object>();
    const int64_t B = size_field(o, "B"), D = size_field(o, "D"), C = size_field(o, "C");
    const int64_t repeats = size_field(o, "repeats");
    const std::vector<std::string> variants = variant_names(o);
    loss::require_cuda();
    Napi::Array out = Napi::Array::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const auto timed = cuda::time_loss_cuda(config, B, D, C, static_cast<int>(repeats), variants);
    for (size_t i = 0; i < timed.size(); ++i) {
      Napi::Object row = Napi::Object::New(info.Env());
      row.Set("name", timed[i].name);
      row.Set("medianMs", timed[i].median_ms);
      row.Set("peakExtraBytes", static_cast<double>(timed[i].peak_extra_bytes));
      out.Set(static_cast<uint32_t>(i), row);
    }
#endif
    return out;
  });
}

}  // namespace

void register_loss_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaMemoryStats", Napi::Function::New(env, cuda_memory_stats, "cudaMemoryStats"));
  exports.Set("cudaLossBench", Napi::Function::New(env, cuda_loss_bench, "cudaLossBench"));
}

}  // namespace mvface::bindings
