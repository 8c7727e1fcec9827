// The CPU backend's matrix multiply, used by every op that contracts (linear, attention, conv).
#pragma once
#include <cstdint>

namespace amae::cpu {

// C = alpha · op(A) · op(B) + beta · C, all row-major. op(A) is M×K: A is stored M×K with row
// stride lda, or (trans_a) K×M. op(B) is K×N: B is stored K×N with row stride ldb, or (trans_b)
// N×K. beta == 0 overwrites C without reading it. Multithreaded through parallel_for (inline
// when called from inside a parallel region) and deterministic: every element of C is summed in
// the same order whatever the thread count.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The same product with B not transposed, on the calling thread, reading A and B in place instead
// of packing them: for small operands that are already in cache (attention's per-head tiles),
// where packing would cost as much as the multiply. Bit-identical to sgemm with the same
// arguments (same K blocks, same fused multiply-add chain per element).
void sgemm_direct(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace amae::cpu
