// Reading plain JS values (objects, numbers, Int32Arrays) with checks that throw a TypeError or
// RangeError naming the argument: what the model binding and the model configurations share.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/error.h"

namespace amae::napi {

inline Napi::Object object_arg(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) type_error(what + " must be an object");
  return v.As<Napi::Object>();
}

// A number as JS prints it: the shortest form that reads back to the same double.
inline std::string num(double x) {
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

// A finite number field; absent (undefined) gives *fallback when there is one.
inline double number_field(const Napi::Object& o, const std::string& key, const std::string& what,
                           const double* fallback = nullptr) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && fallback) return *fallback;
  if (!v.IsNumber()) type_error(what + "." + key + " must be a number");
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) range_error(what + "." + key + " must be finite, got " + num(x));
  return x;
}
inline double number_field(const Napi::Object& o, const std::string& key, const std::string& what, double fallback) {
  return number_field(o, key, what, &fallback);
}

inline int64_t positive_int(double x, const std::string& name) {
  if (x != std::floor(x) || x < 1 || x > 1e6) range_error(name + " must be a positive integer, got " + num(x));
  return static_cast<int64_t>(x);
}

// An array of positive integers of the given length (any length when n < 0).
inline std::vector<int64_t> int_list(const Napi::Value& v, int64_t n, const std::string& name) {
  if (!v.IsArray() || (n >= 0 && v.As<Napi::Array>().Length() != uint32_t(n)))
    type_error(name + " must be an array of " + (n >= 0 ? std::to_string(n) + " " : "") + "integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    const std::string at = name + "[" + std::to_string(i) + "]";
    if (!d.IsNumber()) type_error(at + " must be a number");
    out.push_back(positive_int(d.As<Napi::Number>().DoubleValue(), at));
  }
  return out;
}

// A snapshot of an Int32Array: the worker reads the copy, so JS writing to the array while a
// call is queued or running cannot turn into a bad index.
inline std::vector<int32_t> int32_field(const Napi::Object& o, const std::string& key, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    type_error(what + "." + key + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

inline void reject_unknown_keys(const Napi::Object& o, const std::vector<std::string>& known, const std::string& what) {
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    bool ok = false;
    for (const auto& n : known) ok = ok || n == k;
    if (!ok) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      type_error(what + "." + k + " is not a known field (known: " + list + ")");
    }
  }
}

// An optional boolean field (absent: fallback).
inline bool bool_field(const Napi::Object& o, const std::string& key, const std::string& what, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) type_error(what + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace amae::napi
