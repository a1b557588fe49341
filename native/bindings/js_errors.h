#pragma once
// C++ exceptions -> JS errors. lib/ hands the addon a factory (code, message, argument) => Error that
// builds MvfaceError subclasses; every binding entry point goes through `guarded`.
#include <napi.h>

#include <string>

namespace mvface::bindings {

struct ErrorInfo {
  std::string code, argument, message;
};

// Classifies the exception being handled (mvface::Error, c10::Error, std::exception, other).
ErrorInfo current_exception_info();

Napi::Value make_error(Napi::Env env, const ErrorInfo& info);
void set_error_factory(const Napi::CallbackInfo& info);
void init_error_factory(Napi::Env env);

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error(info.Env(), make_error(info.Env(), current_exception_info()));
  }
}

}  // namespace mvface::bindings
