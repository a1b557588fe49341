#pragma once
// Reading the optional fields of an options object: absent gives the fallback, a wrong type
// E_CONFIG naming the field.
#include <napi.h>

namespace mvface::bindings {

double number_or(const Napi::Object& o, const char* key, double fallback);
bool boolean_or(const Napi::Object& o, const char* key, bool fallback);

}  // namespace mvface::bindings
