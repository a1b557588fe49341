#pragma once
// Runs a native job on libuv's thread pool and settles a promise with its result or typed error.
// The job must own what it reads (copies of the input arrays, never views of JS memory): the caller
// may change, transfer or drop its arrays while the job runs.
#include <napi.h>

#include <functional>
#include <optional>

#include "js_errors.h"

namespace mvface::bindings {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Job = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise Start(Napi::Env env, Job job, Convert convert) {
    auto* worker = new PromiseWorker(env, std::move(job), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_.emplace(job_());
    } catch (...) {
      error_ = current_exception_info();
      SetError(error_.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(convert_(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(make_error(Env(), error_)); }

 private:
  PromiseWorker(Napi::Env env, Job job, Convert convert)
      : Napi::AsyncWorker(env, "mvface"),
        deferred_(Napi::Promise::Deferred::New(env)),
        job_(std::move(job)),
        convert_(std::move(convert)) {}

  Napi::Promise::Deferred deferred_;
  Job job_;
  Convert convert_;
  std::optional<Result> result_;
  ErrorInfo error_;
};

}  // namespace mvface::bindings
