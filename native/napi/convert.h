// JS value ↔ native conversions shared by the binding's entry points, with argument checks that
// throw TypeError/RangeError naming the argument.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

#include "../core/tensor.h"

namespace amae::napi {

// A {data: Float32Array|Int32Array, shape: number[]} object → a view of its buffer.
Tensor tensor_from_js(const Napi::Value& v, const std::string& what);
// A new zero-filled typed array of the shape, wrapped as {data, shape}; `view` points into it.
Napi::Object new_js_tensor(Napi::Env env, const std::vector<int64_t>& shape, DType dtype, Tensor* view);

// Runs fn and turns amae's C++ exceptions into the matching JS exception.
void rethrow_as_js(Napi::Env env, const std::function<void()>& fn);

}  // namespace amae::napi
