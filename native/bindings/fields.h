#pragma once
// Reading the optional fields of an options object: absent gives the fallback, a wrong type
// E_CONFIG naming the field.
#include <napi.h>

#include <string>
#include <vector>

namespace mvface::bindings {

double number_or(const Napi::Object& o, const char* key, double fallback);
// A field the caller must give (resolved in TypeScript): E_CONFIG naming it when absent or not a number.
double number_field(const Napi::Object& o, const char* key);
bool boolean_or(const Napi::Object& o, const char* key, bool fallback);
// The i-th argument, which must be a string (E_CONFIG naming `name` otherwise).
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Array string_array(Napi::Env env, const std::vector<std::string>& items);

}  // namespace mvface::bindings
