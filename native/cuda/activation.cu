// CUDA element-wise ops: activations and the residual add (native/ops/activation.h), mirroring
// native/cpu/activation.cpp one thread per element. Backward ops ADD into dx.
#include "../ops/activation.h"
#include "context.cuh"

namespace amae::cuda {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// The exact (erf) GELU, as the CPU and PyTorch's default; erff/expf are the accurate (not the
// __ intrinsic) versions, so the result tracks the CPU to a few ulp.
__global__ void gelu_forward_kernel(const float* x, float* y, int64_t n) {
  AMAE_CUDA_FOR(i, n) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + erff(v * kInvSqrt2));
  }
}

__global__ void gelu_backward_kernel(const float* x, const float* dy, float* dx, int64_t n) {
  AMAE_CUDA_FOR(i, n) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dx[i] += dy[i] * (cdf + v * pdf);
  }
}

__global__ void leaky_relu_forward_kernel(const float* x, float* y, int64_t n, float slope) {
  AMAE_CUDA_FOR(i, n) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : slope * v;
  }
}

// Reads the forward output y: sign(y) = sign(x) for slope > 0.
__global__ void leaky_relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t n, float slope) {
  AMAE_CUDA_FOR(i, n) dx[i] += y[i] > 0.0f ? dy[i] : slope * dy[i];
}

// y may alias a or b (in-place residual add): each element is read before it is written by the
// same thread, so no __restrict__ here.
__global__ void add_forward_kernel(const float* a, const float* b, float* y, int64_t n) {
  AMAE_CUDA_FOR(i, n) y[i] = a[i] + b[i];
}
}  // namespace

void gelu_forward(const Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), n);
  AMAE_CUDA_LAUNCHED();
}

void gelu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx) {
  const int64_t n = x.numel();
  if (n == 0) return;
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), dy.f32(), dx.f32(), n);
  AMAE_CUDA_LAUNCHED();
}

void leaky_relu_forward(const Tensor& x, const Tensor& y, float slope) {
  const int64_t n = x.numel();
  if (n == 0) return;
  leaky_relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), n, slope);
  AMAE_CUDA_LAUNCHED();
}

void leaky_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, float slope) {
  const int64_t n = y.numel();
  if (n == 0) return;
  leaky_relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(y.f32(), dy.f32(), dx.f32(), n, slope);
  AMAE_CUDA_LAUNCHED();
}

void add_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  add_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a.f32(), b.f32(), y.f32(), n);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace amae::cuda
