// cudaMemoryStats(resetPeak?), cudaLossBench(config, sizes) and cudaNormBench(case): argument
// plumbing only.
#include "loss_cuda_binding.h"

#include <string>
#include <vector>

#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "loss/device.h"
#include "loss_binding.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/bench.h"
#include "cuda/host/memory.h"
#include "cuda/host/norm_bench.h"
#endif

namespace mvface::bindings {
namespace {

// Returns { allocatedBytes, peakAllocatedBytes, reservedBytes } of libtorch's CUDA caching
// allocator on the current device and the device's { deviceFreeBytes, deviceTotalBytes }, then
// resets the peak when asked to.
Napi::Value cuda_memory_stats(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    loss::require_cuda();
    Napi::Object o = Napi::Object::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const cuda::MemoryStats m = cuda::memory_stats();
    o.Set("allocatedBytes", static_cast<double>(m.allocated));
    o.Set("peakAllocatedBytes", static_cast<double>(m.peak_allocated));
    o.Set("reservedBytes", static_cast<double>(m.reserved));
    o.Set("deviceFreeBytes", static_cast<double>(m.device_free));
    o.Set("deviceTotalBytes", static_cast<double>(m.device_total));
    if (info.Length() > 0 && info[0].ToBoolean()) cuda::reset_peak_memory();
#endif
    return o;
  });
}

[[maybe_unused]] Napi::Object timing_row(Napi::Env env, const std::string& name, double median_ms,
                                         const char* bytes_key, int64_t bytes) {
  Napi::Object row = Napi::Object::New(env);
  row.Set("name", name);
  row.Set("medianMs", median_ms);
  row.Set(bytes_key, static_cast<double>(bytes));
  return row;
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
    const int64_t B = integer_field(o, "B", 1), D = integer_field(o, "D", 1), C = integer_field(o, "C", 1);
    const int64_t repeats = integer_field(o, "repeats", 1);
    const std::vector<std::string> variants = variant_names(o);
    loss::require_cuda();
    Napi::Array out = Napi::Array::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const auto timed = cuda::time_loss_cuda(config, B, D, C, static_cast<int>(repeats), variants);
    for (size_t i = 0; i < timed.size(); ++i)
      out.Set(static_cast<uint32_t>(i),
              timing_row(info.Env(), timed[i].name, timed[i].median_ms, "peakExtraBytes", timed[i].peak_extra_bytes));
#endif
    return out;
  });
}

// cudaNormBench({ N, C, H, W, dtype: 'bf16' | 'fp32', channelsLast, prelu, residual, repeats })
// -> [{ name, medianMs, savedBytes }] for 'modules' and 'fused' (synchronous: a few seconds).
Napi::Value cuda_norm_bench(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_CONFIG", "case", "expected { N, C, H, W, dtype, ... }");
    const auto o = info[0].As<Napi::Object>();
    const std::string dtype = string_field(o, "dtype");
    if (dtype != "bf16" && dtype != "fp32") fail("E_CONFIG", "dtype", "must be 'bf16' or 'fp32'");
    const int64_t N = integer_field(o, "N", 1), C = integer_field(o, "C", 1), H = integer_field(o, "H", 1),
                  W = integer_field(o, "W", 1);
    const int64_t repeats = integer_field(o, "repeats", 1);
    const bool channels_last = boolean_field(o, "channelsLast"), prelu = boolean_field(o, "prelu"),
               residual = boolean_field(o, "residual");
    loss::require_cuda();
    Napi::Array out = Napi::Array::New(info.Env());
#ifdef MVFACE_WITH_CUDA
    const cuda::NormBenchCase c{N, C, H, W, dtype == "bf16", channels_last, prelu, residual, static_cast<int>(repeats)};
    const auto timed = cuda::time_norm_cuda(c);
    for (size_t i = 0; i < timed.size(); ++i)
      out.Set(static_cast<uint32_t>(i),
              timing_row(info.Env(), timed[i].name, timed[i].median_ms, "savedBytes", timed[i].saved_bytes));
#else
    (void)N, (void)C, (void)H, (void)W, (void)repeats, (void)channels_last, (void)prelu, (void)residual;
#endif
    return out;
  });
}

}  // namespace

void register_loss_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaMemoryStats", Napi::Function::New(env, cuda_memory_stats, "cudaMemoryStats"));
  exports.Set("cudaLossBench", Napi::Function::New(env, cuda_loss_bench, "cudaLossBench"));
  exports.Set("cudaNormBench", Napi::Function::New(env, cuda_norm_bench, "cudaNormBench"));
}

}  // namespace mvface::bindings
