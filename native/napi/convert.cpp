#include "convert.h"

#include <cmath>

#include "../core/error.h"

namespace amae::napi {

Tensor tensor_from_js(const Napi::Value& v, const std::string& what) {
  const std::string expect = what + " must be a tensor {data: Float32Array | Int32Array, shape: number[]}";
  if (!v.IsObject()) type_error(expect);
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value data = o.Get("data"), shape = o.Get("shape");
  if (!data.IsTypedArray() || !shape.IsArray()) type_error(expect);
  Napi::TypedArray ta = data.As<Napi::TypedArray>();
  Tensor t;
  if (ta.TypedArrayType() == napi_float32_array)
    t.dtype = DType::F32;
  else if (ta.TypedArrayType() == napi_int32_array)
    t.dtype = DType::I32;
  else
    type_error(what + ".data must be a Float32Array or an Int32Array");
  Napi::Array dims = shape.As<Napi::Array>();
  if (dims.Length() > static_cast<uint32_t>(kMaxDims))
    range_error(what + ".shape has " + std::to_string(dims.Length()) + " dimensions; at most " +
                std::to_string(kMaxDims) + " are supported");
  t.ndim = static_cast<int>(dims.Length());
  for (int i = 0; i < t.ndim; ++i) {
    Napi::Value d = dims.Get(static_cast<uint32_t>(i));
    const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(x >= 0) || x != std::floor(x) || x > 2147483647.0)
      type_error(what + ".shape[" + std::to_string(i) + "] must be a non-negative integer");
    t.shape[i] = static_cast<int64_t>(x);
  }
  if (static_cast<int64_t>(ta.ElementLength()) != t.numel())
    range_error(what + ": shape " + t.shape_str() + " needs " + std::to_string(t.numel()) + " values, data has " +
                std::to_string(ta.ElementLength()));
  t.data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return t;
}

Napi::Object new_js_tensor(Napi::Env env, const std::vector<int64_t>& shape, DType dtype, Tensor* view) {
  Tensor t;
  t.dtype = dtype;
  t.ndim = static_cast<int>(shape.size());
  Napi::Array js_shape = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    t.shape[i] = shape[i];
    js_shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  }
  const size_t n = static_cast<size_t>(t.numel());
  Napi::Object o = Napi::Object::New(env);
  if (dtype == DType::I32) {
    auto a = Napi::Int32Array::New(env, n);
    t.data = a.Data();
    o.Set("data", a);
  } else {
    AMAE_CHECK(dtype == DType::F32, "JS tensors are float32 or int32");
    auto a = Napi::Float32Array::New(env, n);
    t.data = a.Data();
    o.Set("data", a);
  }
  o.Set("shape", js_shape);
  *view = t;
  return o;
}

void rethrow_as_js(Napi::Env env, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const ArgError& e) {
    if (e.kind == ArgError::Kind::Type) throw Napi::TypeError::New(env, e.what());
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "amae: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace amae::napi
