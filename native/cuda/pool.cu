// CUDA max reductions that keep their arg-max (native/ops/pool.h), mirroring
// native/cpu/pool.cpp: one thread per output element, the same visiting order and the same
// tie / NaN rule, so values and arg-maxes match the CPU exactly. Backward ops ADD into dx.
#include "../ops/pool.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

// Whether v replaces the current best: strictly greater keeps the first of equal values; a NaN
// replaces a number but not an earlier NaN, so the max is NaN as soon as any input is.
__device__ __forceinline__ bool beats(float v, float best) { return v > best || (v != v && best == best); }

// One thread per output element (nc, ho, wo, od); argmax is the winner's flat index within its
// (n, c) input volume of H·W·D values.
__global__ void maxpool3d_forward_kernel(const float* x, float* y, int32_t* argmax, int64_t n_out, int64_t ho_n,
                                         int64_t wo_n, int64_t do_n, int64_t W, int64_t D, int64_t plane) {
  const int64_t oplane = ho_n * wo_n * do_n;
  AMAE_CUDA_FOR(o, n_out) {
    const int64_t nc = o / oplane, q = o % oplane;
    const int64_t ho = q / (wo_n * do_n), wo = (q / do_n) % wo_n, od = q % do_n;
    const float* src = x + nc * plane;
    const int64_t base = (2 * ho * W + 2 * wo) * D + 2 * od;
    int64_t best_i = base;
    float best = src[base];
    // Visit the window in (h, w, d) order, i.e. ascending flat index: ties keep the first.
    for (int k = 1; k < 8; ++k) {
      const int64_t i = base + (k >> 2) * W * D + ((k >> 1) & 1) * D + (k & 1);
      const float v = src[i];
      if (beats(v, best)) {
        best = v;
        best_i = i;
      }
    }
    y[o] = best;
    argmax[o] = static_cast<int32_t>(best_i);
  }
}

// Windows do not overlap and every argmax lies in its own window (the binding checks it), so
// each dx element receives at most one contribution: a plain += without atomics is race-free.
__global__ void maxpool3d_backward_kernel(const int32_t* argmax, const float* dy, float* dx, int64_t n_out,
                                          int64_t oplane, int64_t plane) {
  AMAE_CUDA_FOR(o, n_out) {
    const int64_t nc = o / oplane;
    dx[nc * plane + argmax[o]] += dy[o];
  }
}

// One thread per (s, m): walks the group's rows in ascending order. Consecutive threads take
// consecutive m, so every row read is coalesced.
__global__ void group_max_forward_kernel(const float* x, const int32_t* offsets, float* y, int32_t* argmax,
                                         int64_t n_out, int64_t m_n) {
  AMAE_CUDA_FOR(i, n_out) {
    const int64_t s = i / m_n, c = i % m_n;
    const int32_t r0 = offsets[s], r1 = offsets[s + 1];
    float best = x[int64_t(r0) * m_n + c];
    int32_t best_r = r0;
    for (int32_t r = r0 + 1; r < r1; ++r) {
      const float v = x[int64_t(r) * m_n + c];
      if (beats(v, best)) {
        best = v;
        best_r = r;
      }
    }
    y[i] = best;
    argmax[i] = best_r;
  }
}

// One thread per column m, adding the groups in ascending s as the CPU does: column m only ever
// writes column m of dx, so threads never collide, and the order is fixed even if two groups
// named the same row.
__global__ void group_max_backward_kernel(const int32_t* argmax, const float* dy, float* dx, int64_t groups,
                                          int64_t m_n) {
  AMAE_CUDA_FOR(c, m_n) {
    for (int64_t s = 0; s < groups; ++s) dx[int64_t(argmax[s * m_n + c]) * m_n + c] += dy[s * m_n + c];
  }
}

}  // namespace

void maxpool3d_forward(const Tensor& x, const Tensor& y, const Tensor& argmax) {
  const int64_t n_out = y.numel();
  if (n_out == 0) return;
  maxpool3d_forward_kernel<<<blocks_for(n_out), kThreads, 0, stream()>>>(
      x.f32(), y.f32(), argmax.i32(), n_out, y.dim(2), y.dim(3), y.dim(4), x.dim(3), x.dim(4), x.stride(1));
  AMAE_CUDA_LAUNCHED();
}

void maxpool3d_backward(const Tensor& argmax, const Tensor& dy, const Tensor& dx) {
  const int64_t n_out = dy.numel();
  if (n_out == 0) return;
  maxpool3d_backward_kernel<<<blocks_for(n_out), kThreads, 0, stream()>>>(argmax.i32(), dy.f32(), dx.f32(), n_out,
                                                                          dy.stride(1), dx.stride(1));
  AMAE_CUDA_LAUNCHED();
}

void group_max_forward(const Tensor& x, const Tensor& offsets, const Tensor& y, const Tensor& argmax) {
  const int64_t m_n = x.stride(0), n_out = y.dim(0) * m_n;
  if (n_out == 0) return;
  group_max_forward_kernel<<<blocks_for(n_out), kThreads, 0, stream()>>>(x.f32(), offsets.i32(), y.f32(),
                                                                         argmax.i32(), n_out, m_n);
  AMAE_CUDA_LAUNCHED();
}

void group_max_backward(const Tensor& argmax, const Tensor& dy, const Tensor& dx) {
  const int64_t m_n = dy.stride(0), groups = dy.dim(0);
  if (m_n == 0 || groups == 0) return;
  group_max_backward_kernel<<<blocks_for(m_n), kThreads, 0, stream()>>>(argmax.i32(), dy.f32(), dx.f32(), groups,
                                                                        m_n);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace amae::cuda
