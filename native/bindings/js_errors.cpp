#include "js_errors.h"

#include <c10/util/Exception.h>

#include "errors.h"

namespace mvface::bindings {
namespace {

struct ErrorFactory {
  Napi::FunctionReference fn;
};

std::string first_line(const std::string& s) {
  auto end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

}  // namespace

ErrorInfo current_exception_info() {
  try {
    throw;
  } catch (const mvface::Error& e) {
    return {e.code(), e.argument(), e.what()};
  } catch (const c10::Error& e) {
    return {"E_NATIVE", "", "libtorch: " + first_line(e.what_without_backtrace())};
  } catch (const std::bad_alloc&) {
    return {"E_MEMORY", "", "out of memory"};
  } catch (const std::exception& e) {
    return {"E_NATIVE", "", e.what()};
  } catch (...) {
    return {"E_NATIVE", "", "unknown native error"};
  }
}

void init_error_factory(Napi::Env env) { env.SetInstanceData(new ErrorFactory()); }

void set_error_factory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory(fn)");
  info.Env().GetInstanceData<ErrorFactory>()->fn = Napi::Persistent(info[0].As<Napi::Function>());
}

Napi::Value make_error(Napi::Env env, const ErrorInfo& e) {
  auto* factory = env.GetInstanceData<ErrorFactory>();
  if (factory && !factory->fn.IsEmpty()) {
    return factory->fn.Call(
        {Napi::String::New(env, e.code), Napi::String::New(env, e.message), Napi::String::New(env, e.argument)});
  }
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  return err.Value();
}

}  // namespace mvface::bindings
