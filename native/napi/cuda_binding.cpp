// cudaInfo(), cudaSelect(index), cudaSetMath('f32' | 'bf16'), cudaMath(): the CUDA device and
// the backend's math mode, on every build (a build without CUDA answers that it has none).
#include "cuda_binding.h"

#include <atomic>
#include <cmath>

#include "../core/error.h"
#include "convert.h"

#ifdef AMAE_WITH_CUDA
#include "../cuda/device.h"
#endif

namespace amae::napi {
namespace {

#ifndef AMAE_WITH_CUDA
// Without a backend the mode is only remembered, so that a script choosing it runs on any build.
std::atomic<bool> g_bf16{true};
#endif

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#ifdef AMAE_WITH_CUDA
  const cuda::DeviceInfo d = cuda::device_info();
  o.Set("available", d.available);
  o.Set("reason", d.reason);
  o.Set("index", d.index);
  o.Set("count", d.count);
  o.Set("name", d.name);
  o.Set("major", d.major);
  o.Set("minor", d.minor);
  o.Set("multiprocessors", d.multiprocessors);
  o.Set("totalMemory", static_cast<double>(d.total_memory));
  o.Set("freeMemory", static_cast<double>(d.free_memory));
  o.Set("cublas", d.cublas);
#else
  o.Set("available", false);
  o.Set("reason", kNoCudaBuild);
  o.Set("index", -1);
  o.Set("count", 0);
  o.Set("name", "");
  o.Set("major", 0);
  o.Set("minor", 0);
  o.Set("multiprocessors", 0);
  o.Set("totalMemory", 0.0);
  o.Set("freeMemory", 0.0);
  o.Set("cublas", false);
#endif
  return o;
}

Napi::Value CudaSelect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rethrow_as_js(env, [&] {
    const Napi::Value v = info[0];
    if (!v.IsNumber()) type_error("cudaSelect(index): index must be a number");
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != std::floor(x) || x > 1e6)
      range_error("cudaSelect(index): index must be a non-negative integer, got " + std::to_string(x));
#ifdef AMAE_WITH_CUDA
    cuda::select_device(static_cast<int>(x));
#else
    throw std::runtime_error(std::string("cudaSelect: ") + kNoCudaBuild);
#endif
  });
  return env.Undefined();
}

Napi::Value CudaSetMath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rethrow_as_js(env, [&] {
    const Napi::Value v = info[0];
    if (!v.IsString()) type_error("cudaSetMath(mode): mode must be 'f32' or 'bf16'");
    const std::string m = v.As<Napi::String>().Utf8Value();
    if (m != "f32" && m != "bf16") range_error("cudaSetMath(mode): mode must be 'f32' or 'bf16', got '" + m + "'");
#ifdef AMAE_WITH_CUDA
    cuda::set_math(m == "f32" ? cuda::Math::F32 : cuda::Math::BF16);
#else
    g_bf16.store(m == "bf16");
#endif
  });
  return env.Undefined();
}

Napi::Value CudaMath(const Napi::CallbackInfo& info) {
#ifdef AMAE_WITH_CUDA
  const bool bf16 = cuda::math() == cuda::Math::BF16;
#else
  const bool bf16 = g_bf16.load();
#endif
  return Napi::String::New(info.Env(), bf16 ? "bf16" : "f32");
}

}  // namespace

std::string cuda_unavailable_reason() {
#ifdef AMAE_WITH_CUDA
  // A device that answered once stays: later failures are the ops' errors to report. A negative
  // answer is asked again (cheap without a device), so that it always carries the current reason.
  static std::atomic<bool> ok{false};
  if (ok.load()) return "";
  const cuda::DeviceInfo d = cuda::device_info();
  if (d.available) {
    ok.store(true);
    return "";
  }
  return d.reason.empty() ? "CUDA is not usable here" : d.reason;
#else
  return kNoCudaBuild;
#endif
}

void require_cuda(const std::string& what) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) throw std::runtime_error(what + ": " + why);
}

Device device_arg(const Napi::Value& v, const std::string& what, Device fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) type_error(what + " must be 'cpu' or 'cuda'");
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "cpu") return Device::CPU;
  if (s == "cuda") return Device::CUDA;
  range_error(what + " must be 'cpu' or 'cuda', got '" + s + "'");
}

void init_cuda_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  exports.Set("cudaSelect", Napi::Function::New(env, CudaSelect, "cudaSelect"));
  exports.Set("cudaSetMath", Napi::Function::New(env, CudaSetMath, "cudaSetMath"));
  exports.Set("cudaMath", Napi::Function::New(env, CudaMath, "cudaMath"));
}

}  // namespace amae::napi
