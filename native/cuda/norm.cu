// CUDA instance norm without affine parameters (native/ops/norm.h), mirroring
// native/cpu/norm.cpp. A row is one (n, c) volume of V values, up to 96³, and there may be only a
// few rows, so each row is cut into fixed chunks of kChunk values: one block per chunk writes its
// partial sums (double, fixed order inside the block), then one thread per row adds its chunks in
// ascending order. The chunking depends only on V, so the result is the same on every run and
// every GPU. Statistics are kept in double as on the CPU.
#include "../ops/norm.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

constexpr int kNormThreads = 256;
constexpr int64_t kChunk = 16 * kNormThreads;  // values per partial sum

// part[2b], part[2b + 1] = Σ (x − shift), Σ (x − shift)² over chunk b = (row r, chunk k), with
// shift = the row's first value: moments about it lose no accuracy to a large common offset (see
// the CPU file). Blocks walk (r, k) pairs grid-stride; every thread of a block takes the same b.
__global__ void instance_norm_partials_kernel(const float* x, double* part, int64_t v, int64_t chunks,
                                              int64_t n_blocks) {
  for (int64_t b = blockIdx.x; b < n_blocks; b += gridDim.x) {
    const int64_t r = b / chunks, k = b % chunks;
    const float* p = x + r * v;
    const double shift = p[0];
    const int64_t lo = k * kChunk, hi = min(v, lo + kChunk);
    double s = 0, sq = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      const double d = double(p[i]) - shift;
      s += d;
      sq += d * d;
    }
    s = block_sum<double>(s);
    sq = block_sum<double>(sq);
    if (threadIdx.x == 0) {
      part[2 * b] = s;
      part[2 * b + 1] = sq;
    }
  }
}

// One thread per row: its chunks in ascending order, then the CPU's formulas.
__global__ void instance_norm_stats_kernel(const float* x, const double* part, float* mean, float* rstd,
                                           int64_t rows, int64_t v, int64_t chunks, float eps) {
  AMAE_CUDA_FOR(r, rows) {
    double sum = 0, sum_sq = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sum += part[2 * (r * chunks + k)];
      sum_sq += part[2 * (r * chunks + k) + 1];
    }
    const double shift = x[r * v];
    const double dm = sum / double(v);
    const double mu = shift + dm;
    const double var = fmax(0.0, sum_sq / double(v) - dm * dm);
    const double rs = 1.0 / sqrt(var + double(eps));
    mean[r] = float(mu);
    rstd[r] = float(rs);
  }
}

// y from the stored float statistics, so the backward's x̂ is exactly the forward's; then the
// LeakyReLU (slope 1: none). In place is safe: each element is read once.
__global__ void instance_norm_apply_kernel(const float* x, const float* mean, const float* rstd, float* y,
                                           int64_t n, int64_t v, float slope) {
  AMAE_CUDA_FOR(i, n) {
    const int64_t r = i / v;
    const float t = (x[i] - mean[r]) * rstd[r];
    y[i] = t > 0 ? t : t * slope;
  }
}

// The fused backward's partial sums: dn and x̂ recovered from the forward's output y.
__global__ void instance_norm_act_backward_partials_kernel(const float* y, const float* dy, double* part, int64_t v,
                                                           int64_t chunks, int64_t n_blocks, float slope) {
  const float inv = 1.0f / slope;
  for (int64_t b = blockIdx.x; b < n_blocks; b += gridDim.x) {
    const int64_t r = b / chunks, k = b % chunks;
    const float* q = y + r * v;
    const float* g = dy + r * v;
    const int64_t lo = k * kChunk, hi = min(v, lo + kChunk);
    double gs = 0, gx = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      const float dn = q[i] > 0 ? g[i] : g[i] * slope, xh = q[i] > 0 ? q[i] : q[i] * inv;
      gs += double(dn);
      gx += double(dn) * double(xh);
    }
    gs = block_sum<double>(gs);
    gx = block_sum<double>(gx);
    if (threadIdx.x == 0) {
      part[2 * b] = gs;
      part[2 * b + 1] = gx;
    }
  }
}

__global__ void instance_norm_act_backward_apply_kernel(const float* y, const float* rstd, const float* dy,
                                                        const float* coef, float* dx, int64_t n, int64_t v,
                                                        float slope) {
  const float inv = 1.0f / slope;
  AMAE_CUDA_FOR(i, n) {
    const int64_t r = i / v;
    const float s = rstd[r], g_mean = coef[2 * r], gx_mean = coef[2 * r + 1];
    const float dn = y[i] > 0 ? dy[i] : dy[i] * slope, xh = y[i] > 0 ? y[i] : y[i] * inv;
    dx[i] += s * (dn - g_mean - xh * gx_mean);
  }
}

// part[2b], part[2b + 1] = Σ dy, Σ dy·x̂ over chunk b, x̂ = (x − mean)·rstd formed in float as on
// the CPU.
__global__ void instance_norm_backward_partials_kernel(const float* x, const float* mean, const float* rstd,
                                                       const float* dy, double* part, int64_t v, int64_t chunks,
                                                       int64_t n_blocks) {
  for (int64_t b = blockIdx.x; b < n_blocks; b += gridDim.x) {
    const int64_t r = b / chunks, k = b % chunks;
    const float* p = x + r * v;
    const float* g = dy + r * v;
    const float m = mean[r], s = rstd[r];
    const int64_t lo = k * kChunk, hi = min(v, lo + kChunk);
    double gs = 0, gx = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      gs += double(g[i]);
      gx += double(g[i]) * double((p[i] - m) * s);
    }
    gs = block_sum<double>(gs);
    gx = block_sum<double>(gx);
    if (threadIdx.x == 0) {
      part[2 * b] = gs;
      part[2 * b + 1] = gx;
    }
  }
}

// coef[2r], coef[2r + 1] = mean(dy), mean(dy·x̂) of row r, rounded to float as on the CPU.
__global__ void instance_norm_backward_means_kernel(const double* part, float* coef, int64_t rows, int64_t v,
                                                    int64_t chunks) {
  AMAE_CUDA_FOR(r, rows) {
    double gs = 0, gx = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      gs += part[2 * (r * chunks + k)];
      gx += part[2 * (r * chunks + k) + 1];
    }
    coef[2 * r] = float(gs / double(v));
    coef[2 * r + 1] = float(gx / double(v));
  }
}

__global__ void instance_norm_backward_apply_kernel(const float* x, const float* mean, const float* rstd,
                                                    const float* dy, const float* coef, float* dx, int64_t n,
                                                    int64_t v) {
  AMAE_CUDA_FOR(i, n) {
    const int64_t r = i / v;
    const float m = mean[r], s = rstd[r], g_mean = coef[2 * r], gx_mean = coef[2 * r + 1];
    dx[i] += s * (dy[i] - g_mean - (x[i] - m) * s * gx_mean);
  }
}

int64_t chunks_for(int64_t v) { return (v + kChunk - 1) / kChunk; }

// The backward's three passes, shared by both norms: `partials(stream, part, chunks, n_blocks)`
// launches the per-chunk sums of (dn, dn·x̂), then their means per row, then `apply(stream, coef)`.
template <class Partials, class Apply>
void backward_passes(int64_t rows, int64_t v, Partials partials, Apply apply) {
  const int64_t chunks = chunks_for(v), n_blocks = rows * chunks;
  Workspace ws(Workspace::bytes_for({sizeof(double) * 2 * size_t(n_blocks), sizeof(float) * 2 * size_t(rows)}));
  double* part = ws.take<double>(2 * n_blocks);
  float* coef = ws.take<float>(2 * rows);
  cudaStream_t s = stream();
  partials(s, part, chunks, n_blocks);
  AMAE_CUDA_LAUNCHED();
  instance_norm_backward_means_kernel<<<blocks_for(rows, 64), 64, 0, s>>>(part, coef, rows, v, chunks);
  AMAE_CUDA_LAUNCHED();
  apply(s, coef);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace

void instance_norm_forward(const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps) {
  instance_norm_act_forward(x, y, mean, rstd, eps, 1.0f);
}

void instance_norm_act_forward(const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps,
                               float slope) {
  const int64_t rows = x.dim(0) * x.dim(1), v = x.stride(1);
  if (rows == 0 || v == 0) return;
  const int64_t chunks = chunks_for(v), n_blocks = rows * chunks;
  Workspace ws(Workspace::bytes_for({sizeof(double) * 2 * size_t(n_blocks)}));
  double* part = ws.take<double>(2 * n_blocks);
  cudaStream_t s = stream();
  instance_norm_partials_kernel<<<blocks_for(n_blocks, 1), kNormThreads, 0, s>>>(x.f32(), part, v, chunks, n_blocks);
  AMAE_CUDA_LAUNCHED();
  instance_norm_stats_kernel<<<blocks_for(rows, 64), 64, 0, s>>>(x.f32(), part, mean.f32(), rstd.f32(), rows, v,
                                                                  chunks, eps);
  AMAE_CUDA_LAUNCHED();
  instance_norm_apply_kernel<<<blocks_for(rows * v), kThreads, 0, s>>>(x.f32(), mean.f32(), rstd.f32(), y.f32(),
                                                                       rows * v, v, slope);
  AMAE_CUDA_LAUNCHED();
}

void instance_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                            const Tensor& dx) {
  const int64_t rows = x.dim(0) * x.dim(1), v = x.stride(1);
  if (rows == 0 || v == 0) return;
  backward_passes(
      rows, v,
      [&](cudaStream_t s, double* part, int64_t chunks, int64_t n_blocks) {
        instance_norm_backward_partials_kernel<<<blocks_for(n_blocks, 1), kNormThreads, 0, s>>>(
            x.f32(), mean.f32(), rstd.f32(), dy.f32(), part, v, chunks, n_blocks);
      },
      [&](cudaStream_t s, const float* coef) {
        instance_norm_backward_apply_kernel<<<blocks_for(rows * v), kThreads, 0, s>>>(
            x.f32(), mean.f32(), rstd.f32(), dy.f32(), coef, dx.f32(), rows * v, v);
      });
}

void instance_norm_act_backward(const Tensor& y, const Tensor& rstd, const Tensor& dy, const Tensor& dx, float slope) {
  const int64_t rows = y.dim(0) * y.dim(1), v = y.stride(1);
  if (rows == 0 || v == 0) return;
  backward_passes(
      rows, v,
      [&](cudaStream_t s, double* part, int64_t chunks, int64_t n_blocks) {
        instance_norm_act_backward_partials_kernel<<<blocks_for(n_blocks, 1), kNormThreads, 0, s>>>(
            y.f32(), dy.f32(), part, v, chunks, n_blocks, slope);
      },
      [&](cudaStream_t s, const float* coef) {
        instance_norm_act_backward_apply_kernel<<<blocks_for(rows * v), kThreads, 0, s>>>(
            y.f32(), rstd.f32(), dy.f32(), coef, dx.f32(), rows * v, v, slope);
      });
}

}  // namespace amae::cuda
