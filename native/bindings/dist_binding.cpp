// NativeComm: dist::Comm and the sharded head for JS. Argument plumbing only.
#include "dist_binding.h"

#include <memory>

#include "dist/comm.h"
#include "dist/sharded_head.h"
#include "errors.h"
#include "js_errors.h"
#include "loss_binding.h"
#include "tensors.h"
#include "worker.h"

namespace mvface::bindings {
namespace {

constexpr napi_type_tag kCommTag = {0x6d76666163652d63ull, 0x6f6d6d756e696361ull};

class NativeComm : public Napi::ObjectWrap<NativeComm> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeComm",
        {InstanceMethod("info", &NativeComm::Info), InstanceMethod("shardedLoss", &NativeComm::ShardedLoss),
         InstanceMethod("allReduceSum", &NativeComm::AllReduceSum), InstanceMethod("dispose", &NativeComm::Dispose)});
  }

  // new NativeComm() joins the group described by RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
  explicit NativeComm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeComm>(info) {
    guarded(info, [this](const Napi::CallbackInfo& info) {
      comm_ = std::make_shared<dist::Comm>(dist::rendezvous_from_environment());
      info.This().As<Napi::Object>().TypeTag(&kCommTag);
      return info.Env().Undefined();
    });
  }

  std::shared_ptr<dist::Comm> live() const {
    if (!comm_) fail("E_CONFIG", "comm", "was disposed");
    return comm_;
  }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("rank", live()->rank());
      o.Set("worldSize", live()->world_size());
      o.Set("localRank", live()->local_rank());
      return o;
    });
  }

  // shardedLoss(config, embeddings, weightShard, classes, labels) -> Promise<LossResult>
  Napi::Value ShardedLoss(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto comm = live();
      const loss::LossConfig config = loss_config_arg(info[0]);
      const at::Tensor x = matrix_arg(info[1], "embeddings").clone(), w = matrix_arg(info[2], "weight").clone();
      const int64_t classes = info[3].ToNumber().Int64Value();
      const at::Tensor labels = labels_view(info[4], "labels").clone();
      const int64_t first = dist::shard_of(classes, comm->rank(), comm->world_size()).first;
      return PromiseWorker<loss::LossResult>::Start(
          info.Env(),
          [comm, config, x, w, first, classes, labels]() {
            return dist::sharded_loss(*comm, config, x, w, first, classes, labels);
          },
          loss_result_object);
    });
  }

  Napi::Value AllReduceSum(const Napi::CallbackInfo& info) {
    return guarded(info, [this](const Napi::CallbackInfo& info) -> Napi::Value {
      auto comm = live();
      at::Tensor t = matrix_arg(info[0], "tensor").clone();
      return PromiseWorker<at::Tensor>::Start(
          info.Env(), [comm, t]() mutable { return comm->all_reduce_sum(t), t; },
          [](Napi::Env env, at::Tensor& r) { return to_typed_array(env, r); });
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    comm_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<dist::Comm> comm_;
};

}  // namespace

void register_dist(Napi::Env env, Napi::Object exports) { exports.Set("NativeComm", NativeComm::Define(env)); }

std::shared_ptr<dist::Comm> unwrap_comm(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kCommTag))
    fail("E_CONFIG", "processGroup", "expected a ProcessGroup's native handle");
  return NativeComm::Unwrap(value.As<Napi::Object>())->live();
}

}  // namespace mvface::bindings
