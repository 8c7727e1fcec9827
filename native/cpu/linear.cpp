#include "../ops/linear.h"

#include <algorithm>

#include "../core/threads.h"
#include "gemm.h"

namespace amae::cpu {

namespace {

// Columns per task of the bias gradient's column sum: a stack accumulator that stays in L1.
constexpr int64_t kColumnBlock = 512;

// db[j] += Σ_i dy[i][j]. Each task owns whole columns and adds the rows in order, so the result
// does not depend on the thread count. (A range can exceed the grain when parallel_for runs it
// inline, hence the inner blocking.)
void column_sum_add(const float* dy, int64_t rows, int64_t cols, float* db) {
  parallel_for(cols, kColumnBlock, [&](int64_t j0, int64_t j1) {
    for (int64_t jb = j0; jb < j1; jb += kColumnBlock) {
      float acc[kColumnBlock] = {};
      const int64_t n = std::min(kColumnBlock, j1 - jb);
      for (int64_t i = 0; i < rows; ++i) {
        const float* row = dy + i * cols + jb;
        for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < n; ++j) db[jb + j] += acc[j];
    }
  });
}

// Below this many multiply-adds per batch entry, splitting one entry's GEMM across threads
// costs more than it gains.
constexpr int64_t kSmallEntry = 128 * 128 * 128;

// Runs fn(i) for every batch entry: entries go to separate threads (each entry's GEMM then runs
// inline on its thread) when that keeps the threads evenly busy or when entries are too small to
// split; otherwise they run in turn, each GEMM using every thread.
template <class Fn>
void for_each_batch(int64_t batch, int64_t macs_per_entry, const Fn& fn) {
  const int64_t threads = num_threads();
  const bool even = batch % threads == 0 || batch >= 8 * threads;
  if (batch > 1 && (even || macs_per_entry < kSmallEntry)) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) fn(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) fn(i);
  }
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  float* yp = y.f32();
  float beta = 0.0f;
  if (b.data) {
    // Start y from the bias and let the GEMM add into it: one pass over y instead of two.
    const float* bp = b.f32();
    parallel_for(N, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) std::copy(bp, bp + out, yp + i * out);
    });
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

void matmul_forward(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, float alpha) {
  const int64_t batch = c.dim(0), M = c.dim(1), N = c.dim(2);
  const int64_t K = trans_a ? a.dim(1) : a.dim(2);
  const int64_t lda = a.dim(2), ldb = b.dim(2);
  const float *ap = a.f32(), *bp = b.f32();
  float* cp = c.f32();
  for_each_batch(batch, M * N * K, [&](int64_t i) {
    sgemm(trans_a, trans_b, M, N, K, alpha, ap + i * a.stride(0), lda, bp + i * b.stride(0), ldb, 0.0f,
          cp + i * c.stride(0), N);
  });
}

// With A = op(a) (M×K), B = op(b) (K×N) and C = α·A·B: ∂A = α·dC·Bᵀ and ∂B = α·Aᵀ·dC. A stored
// transpose takes the transposed product (∂a = ∂Aᵀ = B·dCᵀ, ∂b = dCᵀ·A), so every case is one
// GEMM whose operand transposes follow from the stored layouts.
void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dc, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, float alpha) {
  const int64_t batch = dc.dim(0), M = dc.dim(1), N = dc.dim(2);
  const int64_t K = trans_a ? a.dim(1) : a.dim(2);
  const int64_t lda = a.dim(2), ldb = b.dim(2);
  const float *ap = a.f32(), *bp = b.f32(), *gp = dc.f32();
  for_each_batch(batch, M * N * K, [&](int64_t i) {
    const float* ai = ap + i * a.stride(0);
    const float* bi = bp + i * b.stride(0);
    const float* gi = gp + i * dc.stride(0);
    if (da.data) {
      float* out = da.f32() + i * da.stride(0);
      if (trans_a)
        sgemm(trans_b, true, K, M, N, alpha, bi, ldb, gi, N, 1.0f, out, M);
      else
        sgemm(false, !trans_b, M, K, N, alpha, gi, N, bi, ldb, 1.0f, out, K);
    }
    if (db.data) {
      float* out = db.f32() + i * db.stride(0);
      if (trans_b)
        sgemm(true, trans_a, N, K, M, alpha, gi, N, ai, lda, 1.0f, out, K);
      else
        sgemm(!trans_a, false, K, N, M, alpha, ai, lda, gi, N, 1.0f, out, N);
    }
  });
}

}  // namespace amae::cpu
