// Layer normalisation on the GPU, mirroring cpu/layernorm.cpp. One warp per token row for the
// row statistics and dx (a ViT row is a few hundred to a few thousand channels: a warp's 32
// lanes stride over it, and the row sums are warp shuffles, fixed in order). The parameter
// gradients dw/db are column sums over rows: per-chunk partials into the Workspace, then a
// fixed-order pass that ADDS them into dw/db, so they are deterministic.
#include "../ops/layernorm.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

constexpr int kRowsPerBlock = kThreads / 32;  // one warp per row
// dw/db partials: a block covers kColBlock columns (one warp wide, so row segments coalesce) and
// kChunkRows rows, its kLanes row lanes each summing every kLanes-th row of the chunk in order.
// The chunk size is a constant (grown only past the grid's 65535 chunks), so the order of the
// additions depends on the shape alone.
constexpr int kColBlock = 32;
constexpr int kLanes = 8;
constexpr int64_t kChunkRows = 128;

unsigned row_blocks(int64_t T) { return static_cast<unsigned>((T + kRowsPerBlock - 1) / kRowsPerBlock); }

// y = (x − mean)·rstd·w + b per row, with the two-pass variance of the CPU (squared deviations
// from the mean, not E[x²] − mean², which cancels badly when |mean| is large next to the spread).
__global__ void __launch_bounds__(kThreads)
    layernorm_forward_kernel(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ B,
                             float* __restrict__ Y, float* __restrict__ mean, float* __restrict__ rstd, int64_t T,
                             int64_t C, float eps) {
  const int lane = threadIdx.x % 32;
  const int64_t t = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (t >= T) return;  // whole warps leave together; nothing below synchronises the block
  const float* xr = X + t * C;
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += 32) s += xr[c];
  const float mu = warp_sum(s) / static_cast<float>(C);
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float dev = xr[c] - mu;
    v += dev * dev;
  }
  const float var = warp_sum(v) / static_cast<float>(C);
  const float rs = 1.0f / sqrtf(var + eps);
  float* yr = Y + t * C;
  for (int64_t c = lane; c < C; c += 32) yr[c] = (xr[c] - mu) * rs * W[c] + B[c];
  if (lane == 0) {
    mean[t] = mu;
    rstd[t] = rs;
  }
}

// dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dy ⊙ w and x̂ = (x − mean)·rstd: the
// gradient through x̂, mean and rstd (see the CPU file).
__global__ void __launch_bounds__(kThreads)
    layernorm_backward_dx_kernel(const float* __restrict__ X, const float* __restrict__ W,
                                 const float* __restrict__ mean, const float* __restrict__ rstd,
                                 const float* __restrict__ G, float* __restrict__ DX, int64_t T, int64_t C) {
  const int lane = threadIdx.x % 32;
  const int64_t t = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (t >= T) return;
  const float* xr = X + t * C;
  const float* gr = G + t * C;
  float* dxr = DX + t * C;
  const float mu = mean[t], rs = rstd[t];
  float sg = 0.0f, sgx = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = gr[c] * W[c];
    sg += g;
    sgx += g * ((xr[c] - mu) * rs);
  }
  const float g_mean = warp_sum(sg) / static_cast<float>(C);
  const float gx_mean = warp_sum(sgx) / static_cast<float>(C);
  for (int64_t c = lane; c < C; c += 32) {
    const float xhat = (xr[c] - mu) * rs;
    dxr[c] += (gr[c] * W[c] - g_mean - xhat * gx_mean) * rs;
  }
}

// partials[chunk][c] = Σ_{t ∈ chunk} dy[t, c]·x̂[t, c] and partials[chunk][C + c] = Σ dy[t, c].
__global__ void __launch_bounds__(kColBlock * kLanes)
    layernorm_param_partials_kernel(const float* __restrict__ X, const float* __restrict__ mean,
                                    const float* __restrict__ rstd, const float* __restrict__ G, int64_t T,
                                    int64_t C, int64_t chunk_rows, float* __restrict__ partials) {
  __shared__ float lane_w[kLanes][kColBlock];
  __shared__ float lane_b[kLanes][kColBlock];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * kColBlock + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t t0 = chunk * chunk_rows, t1 = t0 + chunk_rows < T ? t0 + chunk_rows : T;
  float aw = 0.0f, ab = 0.0f;
  if (c < C)
    for (int64_t t = t0 + ty; t < t1; t += kLanes) {
      const float g = G[t * C + c];
      aw += g * ((X[t * C + c] - mean[t]) * rstd[t]);
      ab += g;
    }
  lane_w[ty][tx] = aw;
  lane_b[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && c < C) {
    float sw = 0.0f, sb = 0.0f;
#pragma unroll
    for (int l = 0; l < kLanes; ++l) {
      sw += lane_w[l][tx];
      sb += lane_b[l][tx];
    }
    partials[chunk * 2 * C + c] = sw;
    partials[chunk * 2 * C + C + c] = sb;
  }
}

// dw[c] += Σ_chunk partials[chunk][c], db[c] += Σ_chunk partials[chunk][C + c], chunks in order.
// An absent dw or db (nullptr) is skipped.
__global__ void layernorm_param_finish_kernel(const float* __restrict__ partials, int64_t chunks, int64_t C,
                                              float* __restrict__ DW, float* __restrict__ DB) {
  AMAE_CUDA_FOR(j, 2 * C) {
    float* out = j < C ? (DW ? DW + j : nullptr) : (DB ? DB + (j - C) : nullptr);
    if (!out) continue;
    float s = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) s += partials[k * 2 * C + j];
    *out += s;
  }
}

}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const Tensor& mean,
                       const Tensor& rstd, float eps) {
  const int64_t T = x.dim(0), C = x.dim(1);
  AMAE_CHECK(C > 0 && w.numel() == C && b.numel() == C && y.numel() == T * C && mean.numel() == T &&
                 rstd.numel() == T,
             "layernorm_forward: shapes disagree");
  if (T == 0) return;
  layernorm_forward_kernel<<<row_blocks(T), kThreads, 0, stream()>>>(x.f32(), w.f32(), b.f32(), y.f32(), mean.f32(),
                                                                     rstd.f32(), T, C, eps);
  AMAE_CUDA_LAUNCHED();
}

void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                        const Tensor& dx, const Tensor& dw, const Tensor& db) {
  const int64_t T = x.dim(0), C = x.dim(1);
  AMAE_CHECK(C > 0 && w.numel() == C && mean.numel() == T && rstd.numel() == T && dy.numel() == T * C &&
                 (!dx.data || dx.numel() == T * C) && (!dw.data || dw.numel() == C) && (!db.data || db.numel() == C),
             "layernorm_backward: shapes disagree");
  if (T == 0) return;
  cudaStream_t s = stream();
  if (dx.data) {
    layernorm_backward_dx_kernel<<<row_blocks(T), kThreads, 0, s>>>(x.f32(), w.f32(), mean.f32(), rstd.f32(),
                                                                    dy.f32(), dx.f32(), T, C);
    AMAE_CUDA_LAUNCHED();
  }
  if (!dw.data && !db.data) return;
  int64_t chunk_rows = (T + 65534) / 65535;
  if (chunk_rows < kChunkRows) chunk_rows = kChunkRows;
  const int64_t chunks = (T + chunk_rows - 1) / chunk_rows;
  Workspace ws(Workspace::bytes_for({static_cast<size_t>(chunks * 2 * C) * sizeof(float)}));
  float* partials = ws.take<float>(chunks * 2 * C);
  const dim3 grid(static_cast<unsigned>((C + kColBlock - 1) / kColBlock), static_cast<unsigned>(chunks));
  layernorm_param_partials_kernel<<<grid, dim3(kColBlock, kLanes), 0, s>>>(x.f32(), mean.f32(), rstd.f32(), dy.f32(),
                                                                            T, C, chunk_rows, partials);
  AMAE_CUDA_LAUNCHED();
  layernorm_param_finish_kernel<<<blocks_for(2 * C), kThreads, 0, s>>>(partials, chunks, C,
                                                                       dw.data ? dw.f32() : nullptr,
                                                                       db.data ? db.f32() : nullptr);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace amae::cuda
