// Dense contractions on the GPU, mirroring cpu/linear.cpp: the products go through cuda::sgemm
// / sgemm_batched; the bias broadcast and the bias gradient's column sum are small kernels.
#include "../ops/linear.h"
#include "context.cuh"
#include "gemm.h"

namespace amae::cuda {

namespace {

// ---- column sums -----------------------------------------------------------------------------
// db[j] += Σ_i dy[i][j], deterministically: pass 1 sums fixed chunks of kSumRows rows per
// column into partials[chunk][j] (the block's 8 row lanes each sum every 8th row of the chunk in
// order, then lane partials are added in lane order); pass 2 adds the chunk partials in chunk
// order into db. The chunk size is a constant (grown only past 65535 chunks, the grid's limit),
// so the order of additions depends on the shape alone, never on the GPU.
constexpr int kSumCols = 32;   // columns per block (one warp's width: coalesced row segments)
constexpr int kSumLanes = 8;   // row lanes per block
constexpr int64_t kSumRows = 256;  // rows per chunk

__global__ void __launch_bounds__(kSumCols * kSumLanes)
    column_partials_kernel(const float* __restrict__ dy, int64_t rows, int64_t cols, int64_t chunk_rows,
                           float* __restrict__ partials) {
  __shared__ float lane_sum[kSumLanes][kSumCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * kSumCols + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float acc = 0.0f;
  if (j < cols)
    for (int64_t i = r0 + ty; i < r1; i += kSumLanes) acc += dy[i * cols + j];
  lane_sum[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && j < cols) {
    float s = 0.0f;
#pragma unroll
    for (int l = 0; l < kSumLanes; ++l) s += lane_sum[l][tx];
    partials[chunk * cols + j] = s;
  }
}

__global__ void column_finish_kernel(const float* __restrict__ partials, int64_t chunks, int64_t cols,
                                     float* __restrict__ db) {
  AMAE_CUDA_FOR(j, cols) {
    float s = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) s += partials[c * cols + j];
    db[j] += s;
  }
}

void column_sum_add(const float* dy, int64_t rows, int64_t cols, float* db) {
  if (rows <= 0 || cols <= 0) return;
  int64_t chunk_rows = (rows + 65534) / 65535;
  if (chunk_rows < kSumRows) chunk_rows = kSumRows;
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  Workspace ws(Workspace::bytes_for({static_cast<size_t>(chunks * cols) * sizeof(float)}));
  float* partials = ws.take<float>(chunks * cols);
  cudaStream_t s = stream();
  const dim3 grid(static_cast<unsigned>((cols + kSumCols - 1) / kSumCols), static_cast<unsigned>(chunks));
  column_partials_kernel<<<grid, dim3(kSumCols, kSumLanes), 0, s>>>(dy, rows, cols, chunk_rows, partials);
  AMAE_CUDA_LAUNCHED();
  column_finish_kernel<<<blocks_for(cols), kThreads, 0, s>>>(partials, chunks, cols, db);
  AMAE_CUDA_LAUNCHED();
}

// y[i][j] = b[j] for every row: the GEMM then adds x·wᵀ into it (beta = 1), one pass over y.
__global__ void broadcast_rows_kernel(const float* __restrict__ b, int64_t rows, int64_t cols, float* __restrict__ y) {
  AMAE_CUDA_FOR(idx, rows * cols) y[idx] = b[idx % cols];
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  float* yp = y.f32();
  float beta = 0.0f;
  if (b.data) {
    if (N * out > 0) {
      broadcast_rows_kernel<<<blocks_for(N * out), kThreads, 0, stream()>>>(b.f32(), N, out, yp);
      AMAE_CUDA_LAUNCHED();
    }
    beta = 1.0f;
  }
  sgemm(false, true, N, out, in, 1.0f, x.f32(), in, w.f32(), in, beta, yp, out);
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw,
                     const Tensor& db) {
  const int64_t N = dy.dim(0), out = dy.dim(1);
  if (dx.data) {
    const int64_t in = dx.dim(1);
    sgemm(false, false, N, in, out, 1.0f, dy.f32(), out, w.f32(), in, 1.0f, dx.f32(), in);
  }
  if (dw.data) {
    const int64_t in = dw.dim(1);
    sgemm(true, false, out, in, N, 1.0f, dy.f32(), out, x.f32(), in, 1.0f, dw.f32(), in);
  }
  if (db.data) column_sum_add(dy.f32(), N, out, db.f32());
}

// One batched GEMM for all entries (the CPU's for_each_batch is a threading choice only).
void matmul_forward(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, float alpha) {
  const int64_t batch = c.dim(0), M = c.dim(1), N = c.dim(2);
  const int64_t K = trans_a ? a.dim(1) : a.dim(2);
  const int64_t lda = a.dim(2), ldb = b.dim(2);
  sgemm_batched(trans_a, trans_b, M, N, K, alpha, a.f32(), lda, a.stride(0), b.f32(), ldb, b.stride(0), 0.0f, c.f32(),
                N, c.stride(0), batch);
}

// With A = op(a) (M×K), B = op(b) (K×N) and C = α·A·B: ∂A = α·dC·Bᵀ and ∂B = α·Aᵀ·dC. A stored
// transpose takes the transposed product (∂a = ∂Aᵀ = B·dCᵀ, ∂b = dCᵀ·A), so every case is one
// GEMM whose operand transposes follow from the stored layouts (the same calls as the CPU's).
void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dc, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, float alpha) {
  const int64_t batch = dc.dim(0), M = dc.dim(1), N = dc.dim(2);
  const int64_t K = trans_a ? a.dim(1) : a.dim(2);
  const int64_t lda = a.dim(2), ldb = b.dim(2);
  const float *ap = a.f32(), *bp = b.f32(), *gp = dc.f32();
  const int64_t sa = a.stride(0), sb = b.stride(0), sg = dc.stride(0);
  if (da.data) {
    float* out = da.f32();
    const int64_t so = da.stride(0);
    if (trans_a)
      sgemm_batched(trans_b, true, K, M, N, alpha, bp, ldb, sb, gp, N, sg, 1.0f, out, M, so, batch);
    else
      sgemm_batched(false, !trans_b, M, K, N, alpha, gp, N, sg, bp, ldb, sb, 1.0f, out, K, so, batch);
  }
  if (db.data) {
    float* out = db.f32();
    const int64_t so = db.stride(0);
    if (trans_b)
      sgemm_batched(true, trans_a, N, K, M, alpha, gp, N, sg, ap, lda, sa, 1.0f, out, K, so, batch);
    else
      sgemm_batched(!trans_a, false, K, N, M, alpha, ap, lda, sa, gp, N, sg, 1.0f, out, N, so, batch);
  }
}

}  // namespace amae::cuda
