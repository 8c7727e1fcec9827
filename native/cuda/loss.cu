// CUDA training losses (native/ops/loss.h), mirroring native/cpu/loss.cpp. The scalar loss and
// dloss stay on the device (no host reads): a forward writes loss[0] from a last single-block
// kernel, a backward reads dloss[0] inside its kernels. Sums run in double over fixed chunks that
// are combined in a fixed order (per-block partials, then a second pass), so results never depend
// on scheduling. Backward ops ADD into the prediction's gradient.
#include "../ops/loss.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

constexpr int kLossThreads = 256;
constexpr int64_t kChunk = 16 * kLossThreads;  // values per partial sum

// σ(x) and σ'(x) from e = exp(−|x|): never overflows, and σ' stays accurate where σ(x) rounds
// to 1 (p·(1 − p) would give 0 there).
__device__ __forceinline__ void sigmoid(float x, float& p, float& dp) {
  const float e = expf(-fabsf(x));
  const float inv = 1.0f / (1.0f + e);
  p = x >= 0 ? inv : e * inv;
  dp = e * inv * inv;
}

// ---------------------------------------------------------------------------------------------
// Dice

struct DiceShape {
  int64_t rows, V, chunks;
  explicit DiceShape(const Tensor& logits)
      : rows(logits.dim(0) * logits.dim(1)),
        V(rows ? logits.numel() / rows : 0),
        chunks((V + kChunk - 1) / kChunk > 1 ? (V + kChunk - 1) / kChunk : 1) {
    AMAE_CHECK(rows > 0, "dice loss needs at least one (sample, class) pair");
  }
};

// part[3b .. 3b+2] = (Σ p·g, Σ p, Σ g) over chunk b = (row r, chunk k) of V values (an empty
// chunk, V = 0, writes zeros). Blocks walk (r, k) grid-stride, every thread of a block the same b.
__global__ void dice_partials_kernel(const float* x, const float* g, double* part, int64_t V, int64_t chunks,
                                     int64_t n_blocks) {
  for (int64_t b = blockIdx.x; b < n_blocks; b += gridDim.x) {
    const int64_t r = b / chunks, k = b % chunks;
    const int64_t lo = r * V + k * kChunk, hi = r * V + min(V, (k + 1) * kChunk);
    double pg = 0, ps = 0, gs = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      float p, dp;
      sigmoid(x[i], p, dp);
      pg += double(p) * g[i];
      ps += p;
      gs += g[i];
    }
    pg = block_sum<double>(pg);
    ps = block_sum<double>(ps);
    gs = block_sum<double>(gs);
    if (threadIdx.x == 0) {
      part[3 * b] = pg;
      part[3 * b + 1] = ps;
      part[3 * b + 2] = gs;
    }
  }
}

// sums[3r .. 3r+2] = row r's (I, P, G): its chunks added in ascending order.
__global__ void dice_rows_kernel(const double* part, double* sums, int64_t rows, int64_t chunks) {
  AMAE_CUDA_FOR(r, rows) {
    double a0 = 0, a1 = 0, a2 = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      const double* q = part + 3 * (r * chunks + k);
      a0 += q[0];
      a1 += q[1];
      a2 += q[2];
    }
    sums[3 * r] = a0;
    sums[3 * r + 1] = a1;
    sums[3 * r + 2] = a2;
  }
}

// One block: loss[0] = mean over rows of 1 − (2I + s) / (P + G + s).
__global__ void dice_loss_total_kernel(const double* sums, int64_t rows, float* loss) {
  double total = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const double I = sums[3 * r], P = sums[3 * r + 1], G = sums[3 * r + 2];
    total += 1.0 - (2.0 * I + kDiceSmooth) / (P + G + kDiceSmooth);
  }
  total = block_sum<double>(total);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(total / double(rows));
}

// With num = 2I + s and den = P + G + s, ∂loss_r/∂p_i = (num − 2·g_i·den) / den², so per row
// dL/dx_i = (a − b·g_i)·σ'(x_i) with a = c·num/den², b = 2c/den and c = dloss / (N·C).
// coef[2r], coef[2r + 1] = a, b of row r, formed in double and rounded to float as on the CPU.
__global__ void dice_coef_kernel(const double* sums, const float* dloss, float* coef, int64_t rows) {
  AMAE_CUDA_FOR(r, rows) {
    const double c = double(dloss[0]) / double(rows);
    const double num = 2.0 * sums[3 * r] + kDiceSmooth;
    const double den = sums[3 * r + 1] + sums[3 * r + 2] + kDiceSmooth;
    coef[2 * r] = static_cast<float>(c * num / (den * den));
    coef[2 * r + 1] = static_cast<float>(2.0 * c / den);
  }
}

__global__ void dice_backward_kernel(const float* x, const float* g, const float* coef, float* dx, int64_t n,
                                     int64_t V) {
  AMAE_CUDA_FOR(i, n) {
    const int64_t r = i / V;
    float p, dp;
    sigmoid(x[i], p, dp);
    dx[i] += (coef[2 * r] - coef[2 * r + 1] * g[i]) * dp;
  }
}

// Enqueues the per-row (I, P, G) sums into `sums` [3·rows], using `part` [3·rows·chunks].
void dice_sums(const DiceShape& s, const float* x, const float* g, double* part, double* sums, cudaStream_t st) {
  const int64_t n_blocks = s.rows * s.chunks;
  dice_partials_kernel<<<blocks_for(n_blocks, 1), kLossThreads, 0, st>>>(x, g, part, s.V, s.chunks, n_blocks);
  AMAE_CUDA_LAUNCHED();
  dice_rows_kernel<<<blocks_for(s.rows, 64), 64, 0, st>>>(part, sums, s.rows, s.chunks);
  AMAE_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------------
// Masked MSE

// Row statistics of the normalised-pixel target over a block: mean and 1/sqrt(unbiased var +
// eps), in double, two passes as on the CPU. Every thread of the block must call it.
__device__ void row_norm(const float* t, int64_t L, double& mean, double& inv_std) {
  double s = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) s += t[j];
  mean = block_sum<double>(s) / double(L);
  double ss = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) ss += (t[j] - mean) * (t[j] - mean);
  inv_std = 1.0 / sqrt(block_sum<double>(ss) / double(L - 1) + kNormPixEps);
}

// part[r] = Σ_j (pred − t̂)² of row r when masked, else 0. One block per row (grid-stride over
// rows); the mask test is uniform over the block, so the block reductions inside are safe.
__global__ void masked_mse_rows_kernel(const float* pred, const float* target, const int32_t* mask, double* part,
                                       int64_t R, int64_t L, bool norm_pix) {
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    if (!mask[r]) {
      if (threadIdx.x == 0) part[r] = 0;
      continue;
    }
    const float* pr = pred + r * L;
    const float* tr = target + r * L;
    double mean = 0, inv_std = 1;
    if (norm_pix) row_norm(tr, L, mean, inv_std);
    double ss = 0;
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
      const double d = pr[j] - (tr[j] - mean) * inv_std;
      ss += d * d;
    }
    ss = block_sum<double>(ss);
    if (threadIdx.x == 0) part[r] = ss;
  }
}

// One block: the number of masked rows (over all of mask, as the CPU counts), as a double
// (exact far beyond any row count).
__device__ double count_masked(const int32_t* mask, int64_t R) {
  double n = 0;
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) n += mask[r] != 0 ? 1.0 : 0.0;
  return block_sum<double>(n);
}

// One block: loss[0] = Σ part / (n_masked · L), or 0 when no row is masked.
__global__ void masked_mse_total_kernel(const double* part, const int32_t* mask, int64_t R, int64_t mask_n, int64_t L,
                                        float* loss) {
  const double n_masked = count_masked(mask, mask_n);
  double total = 0;
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) total += part[r];
  total = block_sum<double>(total);
  if (threadIdx.x == 0) loss[0] = n_masked == 0 ? 0.0f : static_cast<float>(total / (n_masked * double(L)));
}

// One block: *c = 2·dloss / (n_masked · L) (0 when no row is masked: then no row reads it).
__global__ void masked_mse_coef_kernel(const int32_t* mask, int64_t mask_n, int64_t L, const float* dloss, double* c) {
  const double n_masked = count_masked(mask, mask_n);
  if (threadIdx.x == 0) *c = n_masked == 0 ? 0.0 : 2.0 * double(dloss[0]) / (n_masked * double(L));
}

__global__ void masked_mse_backward_kernel(const float* pred, const float* target, const int32_t* mask,
                                           const double* coef, float* dpred, int64_t R, int64_t L, bool norm_pix) {
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    if (!mask[r]) continue;
    const float* pr = pred + r * L;
    const float* tr = target + r * L;
    float* dr = dpred + r * L;
    double mean = 0, inv_std = 1;
    if (norm_pix) row_norm(tr, L, mean, inv_std);
    const double c = *coef;
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
      dr[j] += static_cast<float>(c * (pr[j] - (tr[j] - mean) * inv_std));
  }
}

}  // namespace

void dice_loss_forward(const Tensor& logits, const Tensor& target, const Tensor& loss) {
  const DiceShape s(logits);
  Workspace ws(
      Workspace::bytes_for({sizeof(double) * 3 * size_t(s.rows * s.chunks), sizeof(double) * 3 * size_t(s.rows)}));
  double* part = ws.take<double>(3 * s.rows * s.chunks);
  double* sums = ws.take<double>(3 * s.rows);
  cudaStream_t st = stream();
  dice_sums(s, logits.f32(), target.f32(), part, sums, st);
  dice_loss_total_kernel<<<1, kLossThreads, 0, st>>>(sums, s.rows, loss.f32());
  AMAE_CUDA_LAUNCHED();
}

void dice_loss_backward(const Tensor& logits, const Tensor& target, const Tensor& dloss, const Tensor& dlogits) {
  const DiceShape s(logits);
  Workspace ws(Workspace::bytes_for({sizeof(double) * 3 * size_t(s.rows * s.chunks),
                                     sizeof(double) * 3 * size_t(s.rows), sizeof(float) * 2 * size_t(s.rows)}));
  double* part = ws.take<double>(3 * s.rows * s.chunks);
  double* sums = ws.take<double>(3 * s.rows);
  float* coef = ws.take<float>(2 * s.rows);
  cudaStream_t st = stream();
  dice_sums(s, logits.f32(), target.f32(), part, sums, st);
  dice_coef_kernel<<<blocks_for(s.rows, 64), 64, 0, st>>>(sums, dloss.f32(), coef, s.rows);
  AMAE_CUDA_LAUNCHED();
  const int64_t n = s.rows * s.V;
  if (n == 0) return;
  dice_backward_kernel<<<blocks_for(n), kThreads, 0, st>>>(logits.f32(), target.f32(), coef, dlogits.f32(), n, s.V);
  AMAE_CUDA_LAUNCHED();
}

void masked_mse_forward(const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& loss,
                        bool norm_pix) {
  const int64_t R = pred.dim(0), L = pred.dim(1);
  AMAE_CHECK(!norm_pix || L >= 2, "norm_pix needs rows of at least 2 values (unbiased variance)");
  cudaStream_t st = stream();
  if (R == 0 || L == 0) {
    // No masked value can count: loss 0 (the bits of 0.0f are all zero).
    AMAE_CUDA_CHECK(cudaMemsetAsync(loss.f32(), 0, sizeof(float), st));
    return;
  }
  Workspace ws(Workspace::bytes_for({sizeof(double) * size_t(R)}));
  double* part = ws.take<double>(R);
  masked_mse_rows_kernel<<<blocks_for(R, 1), kLossThreads, 0, st>>>(pred.f32(), target.f32(), mask.i32(), part, R,
                                                                     L, norm_pix);
  AMAE_CUDA_LAUNCHED();
  masked_mse_total_kernel<<<1, kLossThreads, 0, st>>>(part, mask.i32(), R, mask.numel(), L, loss.f32());
  AMAE_CUDA_LAUNCHED();
}

void masked_mse_backward(const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& dloss,
                         const Tensor& dpred, bool norm_pix) {
  const int64_t R = pred.dim(0), L = pred.dim(1);
  AMAE_CHECK(!norm_pix || L >= 2, "norm_pix needs rows of at least 2 values (unbiased variance)");
  if (R == 0 || L == 0) return;
  Workspace ws(Workspace::bytes_for({sizeof(double)}));
  double* coef = ws.take<double>(1);
  cudaStream_t st = stream();
  masked_mse_coef_kernel<<<1, kLossThreads, 0, st>>>(mask.i32(), mask.numel(), L, dloss.f32(), coef);
  AMAE_CUDA_LAUNCHED();
  masked_mse_backward_kernel<<<blocks_for(R, 1), kLossThreads, 0, st>>>(pred.f32(), target.f32(), mask.i32(), coef,
                                                                         dpred.f32(), R, L, norm_pix);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace amae::cuda
