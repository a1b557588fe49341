// NativeTrainer: train::Trainer for JS. Every long method returns a promise and runs off the event
// loop; calls on one trainer are serialised by lib/train/trainer.ts.
#include "trainer_binding.h"

#include <chrono>
#include <memory>
#include <optional>

#include "backbone_binding.h"
#include "data/loader.h"
#include "data_binding.h"
#include "dist_binding.h"
#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "loss_binding.h"
#include "tensors.h"
#include "train/trainer.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using train::StepResult;
using train::Trainer;

// precision, channelsLast, fusedNorm, cudnnBenchmark, tf32, cudaGraph, staticStep, lossScale: {initScale, growthFactor,
// backoffFactor, growthInterval}
void precision_options(const Napi::Object& o, train::TrainerOptions& t) {
  Napi::Value precision = o.Get("precision");
  if (!precision.IsUndefined() && !precision.IsString()) fail("E_CONFIG", "precision", "must be a string");
  if (precision.IsString()) t.precision = precision.As<Napi::String>().Utf8Value();
  t.channels_last = boolean_or(o, "channelsLast", false);
  t.fused_norm = boolean_or(o, "fusedNorm", false);
  t.cudnn_benchmark = boolean_or(o, "cudnnBenchmark", true);
  if (!o.Get("tf32").IsUndefined()) t.tf32 = boolean_or(o, "tf32", false);
  t.cuda_graph = boolean_or(o, "cudaGraph", false);
  t.static_step = boolean_or(o, "staticStep", false);
  Napi::Value scale = o.Get("lossScale");
  if (scale.IsUndefined() || scale.IsNull()) return;
  if (!scale.IsObject()) fail("E_CONFIG", "lossScale", "must be an object");
  auto s = scale.As<Napi::Object>();
  t.scaler.enabled = true;
  t.scaler.init_scale = number_field(s, "initScale");
  t.scaler.growth_factor = number_field(s, "growthFactor");
  t.scaler.backoff_factor = number_field(s, "backoffFactor");
  const double interval = number_field(s, "growthInterval");
  if (interval != static_cast<double>(static_cast<int64_t>(interval)))
    fail("E_CONFIG", "growthInterval", "must be an integer >= 1");
  t.scaler.growth_interval = static_cast<int64_t>(interval);
}

train::TrainerOptions trainer_options(const Napi::Value& value) {
  if (!value.IsObject()) fail("E_CONFIG", "options", "must be an object");
  auto o = value.As<Napi::Object>();
  train::TrainerOptions t;
  t.backbone = backbone_options_arg(o.Get("backbone"));
  t.num_classes = static_cast<int64_t>(number_or(o, "numClasses", 0));
  t.momentum = number_field(o, "momentum");
  t.weight_decay = number_field(o, "weightDecay");
  t.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
  Napi::Value device = o.Get("device");
  if (device.IsString()) t.device = device.As<Napi::String>().Utf8Value();
  precision_options(o, t);
  t.shard_head = o.Get("shardHead").ToBoolean();
  t.sample_rate = number_or(o, "sampleRate", t.sample_rate);
  t.chunk_classes = static_cast<int64_t>(number_or(o, "chunkClasses", 0));
  return t;
}

// A step's result with where its time went: waiting for the loader's batch, and the native step.
struct TimedStep {
  StepResult result;
  double data_seconds = 0, native_seconds = 0;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs one step and times it; `data_seconds` is what getting its batch took.
template <typename Step>
TimedStep timed_step(double data_seconds, Step&& step) {
  TimedStep t;
  t.data_seconds = data_seconds;
  const Clock::time_point stepping = Clock::now();
  t.result = step();
  t.native_seconds = seconds_since(stepping);
  return t;
}

// The arguments both step calls share: lr, headConfig and stop, from info[1], info[2], info[3].
struct StepArgs {
  double lr = 0;
  loss::LossConfig head;
  bool stop = false;
};

StepArgs step_args(const Napi::CallbackInfo& info) {
  if (!info[1].IsNumber()) fail("E_CONFIG", "lr", "must be a number");
  return {info[1].As<Napi::Number>().DoubleValue(), loss_config_arg(info[2]), info[3].ToBoolean()};
}

Napi::Value step_object(Napi::Env env, std::optional<TimedStep>& timed) {
  if (!timed) return env.Null();
  const StepResult* r = &timed->result;
  Napi::Object o = Napi::Object::New(env);
  o.Set("dataSeconds", timed->data_seconds);
  o.Set("nativeSeconds", timed->native_seconds);
  o.Set("loss", r->loss);
  o.Set("hardFraction", r->hard_fraction);
  o.Set("meanTargetCos", r->mean_target_cos);
  o.Set("samples", static_cast<double>(r->samples));
  o.Set("skipped", static_cast<double>(r->skipped));
  o.Set("skippedItems", string_array(env, r->skipped_items));
  o.Set("epoch", static_cast<double>(r->epoch));
  o.Set("index", static_cast<double>(r->index));
  o.Set("step", static_cast<double>(r->step));
  o.Set("lossScale", r->loss_scale);
  o.Set("updateSkipped", r->update_skipped);
  o.Set("stop", r->stop);
  o.Set("sampledClasses", static_cast<double>(r->sampled_classes));
  o.Set("stepMode", r->mode == train::StepMode::Graph    ? "graph"
                    : r->mode == train::StepMode::Static ? "static"
                                                         : "eager");
  return o;
}

class NativeTrainer : public Napi::ObjectWrap<NativeTrainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeTrainer",
        {InstanceMethod("step", &NativeTrainer::Step), InstanceMethod("embed", &NativeTrainer::Embed),
         InstanceMethod("closedSetAccuracy", &NativeTrainer::ClosedSet), InstanceMethod("save", &NativeTrainer::Save),
         InstanceMethod("load", &NativeTrainer::Load), InstanceMethod("exportBackbone", &NativeTrainer::Export),
         InstanceMethod("setProcessGroup", &NativeTrainer::SetProcessGroup),
         InstanceMethod("stepSynthetic", &NativeTrainer::StepSynthetic),
         InstanceMethod("classWeights", &NativeTrainer::ClassWeights), InstanceMethod("info", &NativeTrainer::Info),
         InstanceMethod("dispose", &NativeTrainer::Dispose)});
  }

  explicit NativeTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTrainer>(info) {
    guarded(info, [this](const Napi::CallbackInfo& info) {
      trainer_ = std::make_shared<Trainer>(trainer_options(info[0]));
      return info.Env().Undefined();
    });
  }

 private:
  std::shared_ptr<Trainer> live() const {
    if (!trainer_) fail("E_CONFIG", "trainer", "was disposed");
    return trainer_;
  }

  // setProcessGroup(nativeComm) -> Promise<void>: data parallel from now on (broadcasts rank 0's state).
  Napi::Value SetProcessGroup(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      auto comm = unwrap_comm(info[0]);
      return PromiseWorker<bool>::Start(
          info.Env(), [trainer, comm]() { return trainer->set_comm(comm), true; },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  // step(loader, lr, headConfig, stop?) -> Promise<StepResult | null> (null at the end of the epoch)
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      auto loader = unwrap_loader(info[0]);
      const StepArgs a = step_args(info);
      return PromiseWorker<std::optional<TimedStep>>::Start(
          info.Env(),
          [trainer, loader, a]() -> std::optional<TimedStep> {
            const Clock::time_point waiting = Clock::now();
            auto batch = loader->next();
            if (!batch) return std::nullopt;
            return timed_step(seconds_since(waiting), [&] { return trainer->step(*batch, a.lr, a.head, a.stop); });
          },
          step_object);
    });
  }

  // stepSynthetic(batchSize, lr, headConfig, stop?) -> Promise<StepResult>: a batch generated on the
  // trainer's device (benchmarks of the step alone; no loader, no host-to-device copy).
  Napi::Value StepSynthetic(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      if (!info[0].IsNumber()) fail("E_CONFIG", "batchSize", "must be a number");
      const int64_t batch = info[0].As<Napi::Number>().Int64Value();
      const StepArgs a = step_args(info);
      return PromiseWorker<std::optional<TimedStep>>::Start(
          info.Env(),
          [trainer, batch, a]() -> std::optional<TimedStep> {
            return timed_step(0, [&] { return trainer->step_synthetic(batch, a.lr, a.head, a.stop); });
          },
          step_object);
    });
  }

  // embed({data, rows: n, cols: c*h*w}, channels, height, width) -> Promise<Float32Array n x D>
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      at::Tensor flat = matrix_arg(info[0], "images");
      const int64_t c = info[1].ToNumber().Int64Value(), h = info[2].ToNumber().Int64Value(),
                    w = info[3].ToNumber().Int64Value();
      if (c * h * w != flat.size(1)) fail("E_SHAPE", "images", "each image must have channels x height x width values");
      const at::Tensor images = flat.view({flat.size(0), c, h, w}).clone();
      return PromiseWorker<at::Tensor>::Start(
          info.Env(), [trainer, images]() { return trainer->embed(images); },
          [](Napi::Env env, at::Tensor& t) { return to_typed_array(env, t); });
    });
  }

  // classWeights() -> Promise<Float32Array C x D>: the head's class weights (gathered when sharded:
  // then every rank calls it).
  Napi::Value ClassWeights(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      return PromiseWorker<at::Tensor>::Start(
          info.Env(), [trainer]() { return trainer->class_weights(); },
          [](Napi::Env env, at::Tensor& t) { return to_typed_array(env, t); });
    });
  }

  Napi::Value ClosedSet(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      auto loader = unwrap_loader(info[0]);
      return PromiseWorker<std::pair<int64_t, int64_t>>::Start(
          info.Env(), [trainer, loader]() { return trainer->closed_set_correct(*loader); },
          [](Napi::Env env, std::pair<int64_t, int64_t>& r) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("correct", static_cast<double>(r.first));
            o.Set("total", static_cast<double>(r.second));
            return o;
          });
    });
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      const std::string path = string_arg(info, 0, "path"), meta = string_arg(info, 1, "meta");
      return PromiseWorker<bool>::Start(
          info.Env(), [trainer, path, meta]() { return trainer->save(path, meta), true; },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      const std::string path = string_arg(info, 0, "path");
      return PromiseWorker<std::string>::Start(
          info.Env(), [trainer, path]() { return trainer->load(path); },
          [](Napi::Env env, std::string& meta) -> Napi::Value { return Napi::String::New(env, meta); });
    });
  }

  Napi::Value Export(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      const std::string path = string_arg(info, 0, "path");
      return PromiseWorker<bool>::Start(
          info.Env(), [trainer, path]() { return trainer->export_backbone(path), true; },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto trainer = live();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("parameters", static_cast<double>(trainer->parameter_count()));
      o.Set("steps", static_cast<double>(trainer->steps()));
      o.Set("channelsLast", trainer->conv_weights_channels_last());
      o.Set("cudnnBenchmark", Trainer::cudnn_benchmark());
      o.Set("fusedNorm", trainer->fused_norm_active());
      return o;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    trainer_.reset();  // running jobs keep their own reference and finish first
    return info.Env().Undefined();
  }

  std::shared_ptr<Trainer> trainer_;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) { exports.Set("NativeTrainer", NativeTrainer::Define(env)); }

}  // namespace mvface::bindings
