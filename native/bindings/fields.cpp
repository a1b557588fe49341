#include "fields.h"

#include <cmath>

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

bool boolean_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) fail("E_CONFIG", key, "must be true or false");
  return v.As<Napi::Boolean>().Value();
}

int64_t integer_value(const Napi::Value& v, const char* name, int64_t min, int64_t max, const char* code) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != std::floor(d)) {
    const std::string range = max == kMaxSafeInteger ? ">= " + std::to_string(min)
                                                     : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    fail(code, name, "must be an integer " + range);
  }
  return static_cast<int64_t>(d);
}

int64_t integer_field(const Napi::Object& o, const char* key, int64_t min, int64_t max) {
  return integer_value(o.Get(key), key, min, max);
}

std::string string_field(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  if (!v.IsString()) fail("E_CONFIG", key, "must be a string");
  return v.As<Napi::String>().Utf8Value();
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
