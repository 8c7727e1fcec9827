#include "../ops/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/threads.h"
#include "reduce.h"

namespace amae::cpu {

namespace {

constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off
// Rows per dw/db partial. A constant rather than anything derived from the thread count, so
// the partials and the order they are summed in are the same on every machine.
constexpr int64_t kRowChunk = 32;

int64_t rows_per_task(int64_t C) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C)); }

// The dw/db partials, one [2C] row per chunk. Thread-local to the calling thread and grown
// only when a call needs more, so steady-state training allocates nothing here.
float* partials(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const Tensor& mean,
                       const Tensor& rstd, float eps) {
  const int64_t T = x.dim(0), C = x.dim(1);
  AMAE_CHECK(C > 0 && w.numel() == C && b.numel() == C && y.numel() == T * C && mean.numel() == T &&
                 rstd.numel() == T,
             "layernorm_forward: shapes disagree");
  const float* X = x.f32();
  const float* W = w.f32();
  const float* B = b.f32();
  float* Y = y.f32();
  float* M = mean.f32();
  float* R = rstd.f32();
  parallel_for(T, rows_per_task(C), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = X + t * C;
      const float mu = lane_sum(C, [&](int64_t c) { return xr[c]; }) / static_cast<float>(C);
      // Squared deviations from the mean rather than E[x²] − mean², which cancels badly when
      // |mean| is large next to the spread.
      const float var = lane_sum(C, [&](int64_t c) {
                          const float dev = xr[c] - mu;
                          return dev * dev;
                        }) /
                        static_cast<float>(C);
      const float rs = 1.0f / std::sqrt(var + eps);
      float* yr = Y + t * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mu) * rs * W[c] + B[c];
      M[t] = mu;
      R[t] = rs;
    }
  });
}

void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                        const Tensor& dx, const Tensor& dw, const Tensor& db) {
  const int64_t T = x.dim(0), C = x.dim(1);
  AMAE_CHECK(C > 0 && w.numel() == C && mean.numel() == T && rstd.numel() == T && dy.numel() == T * C &&
                 dx.numel() == T * C && dw.numel() == C && db.numel() == C,
             "layernorm_backward: shapes disagree");
  if (T == 0) return;
  const float* X = x.f32();
  const float* W = w.f32();
  const float* M = mean.f32();
  const float* R = rstd.f32();
  const float* G = dy.f32();
  float* DX = dx.f32();
  float* DW = dw.f32();
  float* DB = db.f32();

  // Pass 1, parallel over row chunks: dx row by row, and each chunk's Σ dy·x̂ and Σ dy into its
  // own partial row [dw | db].
  const int64_t chunks = (T + kRowChunk - 1) / kRowChunk;
  float* part = partials(static_cast<size_t>(chunks * 2 * C));
  parallel_for(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      float* pw = part + k * 2 * C;
      float* pb = pw + C;
      std::fill(pw, pw + 2 * C, 0.0f);
      for (int64_t t = k * kRowChunk, te = std::min(T, t + kRowChunk); t < te; ++t) {
        const float* xr = X + t * C;
        const float* gr = G + t * C;
        float* dxr = DX + t * C;
        const float mu = M[t], rs = R[t];
        // With g = dy ⊙ w the gradient w.r.t. x̂ = (x − mean)·rstd, differentiating through
        // mean and rstd gives dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
        const float g_mean = lane_sum(C, [&](int64_t c) { return gr[c] * W[c]; }) / static_cast<float>(C);
        const float gx_mean =
            lane_sum(C, [&](int64_t c) { return gr[c] * W[c] * ((xr[c] - mu) * rs); }) / static_cast<float>(C);
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xr[c] - mu) * rs;
          dxr[c] += (gr[c] * W[c] - g_mean - xhat * gx_mean) * rs;
          pw[c] += gr[c] * xhat;
          pb[c] += gr[c];
        }
      }
    }
  });

  // Pass 2, parallel over columns: sum the partials in chunk order into chunk 0's row, then add
  // that into dw/db.
  parallel_for(2 * C, std::max<int64_t>(256, kGrain / chunks), [&](int64_t j0, int64_t j1) {
    for (int64_t k = 1; k < chunks; ++k) {
      const float* pk = part + k * 2 * C;
      for (int64_t j = j0; j < j1; ++j) part[j] += pk[j];
    }
    for (int64_t j = j0; j < j1; ++j) (j < C ? DW[j] : DB[j - C]) += part[j];
  });
}

}  // namespace amae::cpu
