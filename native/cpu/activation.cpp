#include "../ops/activation.h"

#include <algorithm>

#include "../core/threads.h"
#include "vmath.h"

namespace amae::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
// GELU's erf and exp make it arithmetic-bound, so its loops take the AVX-512 lanes where present.
AMAE_VECTOR_CLONES void gelu_range(const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = 0.5f * in[i] * (1.0f + verf(in[i] * kInvSqrt2));
}

AMAE_VECTOR_CLONES void gelu_backward_range(const float* in, const float* g, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    const float cdf = 0.5f * (1.0f + verf(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * vexp(-0.5f * v * v);
    d[i] += g[i] * (cdf + v * pdf);
  }
}

}  // namespace

void gelu_forward(const Tensor& x, const Tensor& y) {
  const float* in = x.f32();
  float* out = y.f32();
  parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { gelu_range(in + b, out + b, e - b); });
}

void gelu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx) {
  const float* in = x.f32();
  const float* g = dy.f32();
  float* d = dx.f32();
  parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { gelu_backward_range(in + b, g + b, d + b, e - b); });
}

void leaky_relu_forward(const Tensor& x, const Tensor& y, float slope) {
  const float* in = x.f32();
  float* out = y.f32();
  // max(x, 0) + slope·min(x, 0) is x > 0 ? x : slope·x exactly (NaN stays NaN), without the
  // branch, and with slope in a local: read through the lambda's capture it could alias out[] as
  // far as the compiler knows. Both kept the loop scalar, in place in every UNETR block.
  parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
    const float s = slope;
    for (int64_t i = b; i < e; ++i) {
      const float v = in[i];
      out[i] = std::max(v, 0.0f) + s * std::min(v, 0.0f);
    }
  });
}

void leaky_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, float slope) {
  const float* out = y.f32();
  const float* g = dy.f32();
  float* d = dx.f32();
  parallel_for(y.numel(), kGrain, [&](int64_t b, int64_t e) {
    const float s = slope;
    for (int64_t i = b; i < e; ++i) d[i] += out[i] > 0.0f ? g[i] : s * g[i];
  });
}

void add_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* out = y.f32();
  parallel_for(y.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = pa[i] + pb[i];
  });
}

}  // namespace amae::cpu
