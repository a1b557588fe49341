#pragma once
// Reading JS values: the one set of helpers the bindings read numbers, integers, strings and flags
// through. A value of the wrong type or out of range is E_CONFIG (or the code given) naming the field.
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mvface::bindings {

// The largest integer a double holds exactly (2^53 - 1).
constexpr int64_t kMaxSafeInteger = 9007199254740991;

double number_or(const Napi::Object& o, const char* key, double fallback);
// A field the caller must give (resolved in TypeScript): E_CONFIG naming it when absent or not a number.
double number_field(const Napi::Object& o, const char* key);
bool boolean_or(const Napi::Object& o, const char* key, bool fallback);
// A required boolean field.
bool boolean_field(const Napi::Object& o, const char* key);
// A number that is an integer in [min, max]; otherwise `code` naming `name`.
int64_t integer_value(const Napi::Value& v, const char* name, int64_t min = 0, int64_t max = kMaxSafeInteger,
                      const char* code = "E_CONFIG");
int64_t integer_field(const Napi::Object& o, const char* key, int64_t min = 0, int64_t max = kMaxSafeInteger);
// A string field the caller must give.
std::string string_field(const Napi::Object& o, const char* key);
// The i-th argument, which must be a string (E_CONFIG naming `name` otherwise).
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Array string_array(Napi::Env env, const std::vector<std::string>& items);

}  // namespace mvface::bindings
