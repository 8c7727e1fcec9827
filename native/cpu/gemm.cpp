#include "gemm.h"

#include <vector>

#include "../core/threads.h"

namespace amae::cpu {

// Straightforward row-panel GEMM: B is brought to K×N layout, then each row of C accumulates
// a[i][k]·B[k][:], which the compiler vectorises along N.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  std::vector<float> bt;
  const float* b = B;
  int64_t ldbk = ldb;
  if (trans_b) {
    bt.resize(static_cast<size_t>(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) bt[k * N + n] = B[n * ldb + k];
    b = bt.data();
    ldbk = N;
  }
  parallel_for(M, 4, [&](int64_t m0, int64_t m1) {
    std::vector<float> acc(static_cast<size_t>(N));
    for (int64_t i = m0; i < m1; ++i) {
      for (int64_t j = 0; j < N; ++j) acc[j] = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float* brow = b + k * ldbk;
        for (int64_t j = 0; j < N; ++j) acc[j] += a * brow[j];
      }
      float* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * c[j]);
    }
  });
}

}  // namespace amae::cpu
