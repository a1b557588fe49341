// NativeLoader: argument plumbing between lib/data/loader.ts and mvface::data::BatchLoader.
#include "data_binding.h"

#include <ATen/ATen.h>

#include <cstring>
#include <functional>
#include <string>

#include "data/loader.h"
#include "errors.h"
#include "fields.h"
#include "js_errors.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

using data::Batch;
using data::BatchLoader;
using LoaderPtr = std::shared_ptr<BatchLoader>;

constexpr napi_type_tag kLoaderTag = {0x6d76666163652d64ull, 0x6174616c6f616465ull};

using SourceFactory = std::function<std::shared_ptr<data::Source>()>;

SourceFactory source_factory(const Napi::Object& spec) {
  const std::string kind = string_field(spec, "kind");
  if (kind == "idx")
    return [images = string_field(spec, "images"), labels = string_field(spec, "labels")] {
      return data::open_idx(images, labels);
    };
  if (kind == "imagefolder" || kind == "recordio") {
    const int channels = static_cast<int>(std::min<int64_t>(integer_field(spec, "channels"), 1 << 20));
    if (kind == "recordio")
      return [path = string_field(spec, "path"), channels] { return data::open_recordio(path, channels); };
    return [root = string_field(spec, "root"), channels] { return data::open_image_folder(root, channels); };
  }
  if (kind == "synthetic") {
    data::SyntheticSpec s{integer_field(spec, "classes"),  integer_field(spec, "perClass"),
                          integer_field(spec, "height"),   integer_field(spec, "width"),
                          integer_field(spec, "channels"), static_cast<uint64_t>(integer_field(spec, "seed"))};
    return [s] { return data::make_synthetic(s); };
  }
  fail("E_CONFIG", "kind", "unknown data kind '" + kind + "' (expected idx, imagefolder, recordio, synthetic)");
}

data::LoaderOptions loader_options(const Napi::Object& options) {
  data::LoaderOptions o;
  o.batch_size = integer_field(options, "batchSize");
  o.shuffle = options.Get("shuffle").ToBoolean();
  o.flip = options.Get("flip").ToBoolean();
  o.seed = static_cast<uint64_t>(integer_field(options, "seed"));
  o.drop_last = options.Get("dropLast").ToBoolean();
  o.workers = static_cast<int>(std::min<int64_t>(integer_field(options, "workers"), 1 << 20));
  o.prefetch = static_cast<int>(std::min<int64_t>(integer_field(options, "prefetch"), 1 << 20));
  const std::string on_corrupt = string_field(options, "onCorrupt");
  if (on_corrupt != "skip" && on_corrupt != "fail") fail("E_CONFIG", "onCorrupt", "must be 'skip' or 'fail'");
  o.on_corrupt = on_corrupt == "skip" ? data::OnCorrupt::Skip : data::OnCorrupt::Fail;
  o.rank = static_cast<int>(std::min<int64_t>(integer_field(options, "rank"), 1 << 20));
  o.world_size = static_cast<int>(std::min<int64_t>(integer_field(options, "worldSize"), 1 << 20));
  o.pinned = options.Get("pinned").ToBoolean();
  return o;
}

Napi::Value batch_object(Napi::Env env, std::optional<Batch>& batch) {
  if (!batch) return env.Null();
  const at::Tensor& images = batch->images;
  Napi::Object o = Napi::Object::New(env);
  o.Set("images", Napi::Float32Array::New(env, images.numel(), tensor_buffer(env, images), 0));
  o.Set("labels", Napi::Int32Array::New(env, batch->labels.numel(), tensor_buffer(env, batch->labels.to(at::kInt)), 0));
  o.Set("count", images.size(0));
  o.Set("channels", images.size(1));
  o.Set("height", images.size(2));
  o.Set("width", images.size(3));
  o.Set("skipped", batch->skipped);
  o.Set("skippedItems", string_array(env, batch->skipped_items));
  o.Set("epoch", batch->epoch);
  o.Set("index", batch->index);
  return o;
}

class NativeLoader : public Napi::ObjectWrap<NativeLoader> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "NativeLoader",
        {InstanceMethod<&NativeLoader::start_epoch>("startEpoch"), InstanceMethod<&NativeLoader::next>("next"),
         InstanceMethod<&NativeLoader::info>("info"), InstanceMethod<&NativeLoader::dispose>("dispose")});
  }

  // Only createLoader constructs these: info[0] is an External holding the loader.
  explicit NativeLoader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLoader>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "use createLoader(spec)");
    loader_ = *info[0].As<Napi::External<LoaderPtr>>().Data();
    info.This().As<Napi::Object>().TypeTag(&kLoaderTag);
  }

  LoaderPtr loader() const {
    if (!loader_) fail("E_CONFIG", "loader", "disposed");
    return loader_;
  }

 private:
  Napi::Value start_epoch(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      const int64_t skip = info.Length() > 1 && !info[1].IsUndefined() ? integer_value(info[1], "skip") : 0;
      loader()->start_epoch(integer_value(info[0], "epoch"), skip);
      return info.Env().Undefined();
    });
  }

  Napi::Value next(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      LoaderPtr l = loader();
      return PromiseWorker<std::optional<Batch>>::Start(
          info.Env(), [l] { return l->next(); }, batch_object);
    });
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      LoaderPtr l = loader();
      const data::Shape shape = l->source().shape();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("size", l->source().size());
      o.Set("numClasses", l->source().num_classes());
      o.Set("classesWithoutImages", data::classes_without_images(l->source()));
      o.Set("channels", shape.channels);
      o.Set("height", shape.height);
      o.Set("width", shape.width);
      o.Set("batchesPerEpoch", l->batches_per_epoch());
      return o;
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (loader_) loader_->stop();
    loader_.reset();
    return info.Env().Undefined();
  }

  LoaderPtr loader_;
};

// createLoader(spec, options): opens the source and starts the workers off the event loop.
Napi::Value create_loader(const Napi::CallbackInfo& info) {
  return guarded(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_CONFIG", "spec", "must be an object");
    if (info.Length() < 2 || !info[1].IsObject()) fail("E_CONFIG", "options", "must be an object");
    SourceFactory open = source_factory(info[0].As<Napi::Object>());
    const data::LoaderOptions options = loader_options(info[1].As<Napi::Object>());
    auto* constructor = static_cast<Napi::FunctionReference*>(info.Data());
    return PromiseWorker<LoaderPtr>::Start(
        info.Env(), [open, options] { return std::make_shared<BatchLoader>(open(), options); },
        [constructor](Napi::Env env, LoaderPtr& loader) -> Napi::Value {
          return constructor->New({Napi::External<LoaderPtr>::New(env, &loader)});
        });
  });
}

}  // namespace

void register_data(Napi::Env env, Napi::Object exports) {
  auto* constructor = new Napi::FunctionReference(Napi::Persistent(NativeLoader::define(env)));
  env.AddCleanupHook([constructor] { delete constructor; });
  exports.Set("createLoader", Napi::Function::New(env, create_loader, "createLoader", constructor));
}

LoaderPtr unwrap_loader(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kLoaderTag))
    fail("E_CONFIG", "loader", "expected a DataLoader's nativeHandle");
  return NativeLoader::Unwrap(value.As<Napi::Object>())->loader();
}

}  // namespace mvface::bindings
