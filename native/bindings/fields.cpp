#include "fields.h"

#include "errors.h"

namespace mvface::bindings {

double number_or(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) fail("E_CONFIG", key, "must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

double number_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_CONFIG", key, "must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool boolean_or(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) fail("E_CONFIG", key, "must be true or false");
  return v.As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) fail("E_CONFIG", name, "must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array a = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); ++i) a.Set(static_cast<uint32_t>(i), items[i]);
  return a;
}

}  // namespace mvface::bindings
