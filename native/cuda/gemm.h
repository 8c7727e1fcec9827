// The CUDA backend's matrix multiply, used by every op that contracts (linear, matmul, the patch
// embedding, conv). Same contract as cpu/gemm.h: row-major, C = alpha · op(A) · op(B) + beta · C,
// op(A) M×K (A stored M×K with row stride lda, or K×M when trans_a), op(B) K×N (B stored K×N
// with row stride ldb, or N×K when trans_b); beta == 0 overwrites C without reading it. All
// pointers are device memory; the product is enqueued on cuda::stream().
// math() == Math::BF16 multiplies bf16-rounded operands on the tensor cores with fp32
// accumulation; Math::F32 multiplies in full fp32 (the mode of the CPU parity tests).
#pragma once
#include <cstdint>

namespace amae::cuda {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// `batch` independent products; entry i uses A + i·stride_a, B + i·stride_b, C + i·stride_c.
void sgemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                   int64_t ldc, int64_t stride_c, int64_t batch);

}  // namespace amae::cuda
