// The CUDA backend's matrix multiply (contract in gemm.h): row-major C = alpha·op(A)·op(B) + beta·C.
//
// Two implementations, chosen when the addon is built:
//  - With AMAE_WITH_CUBLAS (CMake found cuBLAS): cublasGemmEx / cublasGemmStridedBatchedEx, fp32
//    storage throughout. Math::F32 uses CUBLAS_COMPUTE_32F (full fp32 multiplies, no TF32: the
//    parity mode); Math::BF16 uses CUBLAS_COMPUTE_32F_FAST_16BF (operands rounded to bf16 on the
//    tensor cores, fp32 accumulation).
//  - Without it (CI's build): amae's own tiled SIMT kernel below, fp32 throughout. In this path
//    Math::BF16 also multiplies in full fp32: the mode is a permission to be fast, and the kernel
//    has no faster way.
// The environment variable AMAE_CUDA_GEMM=own (read once, at the first GEMM) selects the own
// kernel even in a cuBLAS build, so one GPU run can check both paths against the CPU.
//
// Row-major through a column-major library: a row-major matrix with row stride ld is, to
// cuBLAS, its transpose with leading dimension ld. So C (M×N) = op(A)·op(B) is computed as
// Cᵀ (N×M, column-major, ld ldc) = op(B)ᵀ·op(A)ᵀ, passing B first and A second with their own
// transpose flags unchanged.
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "context.cuh"
#include "gemm.h"

#ifdef AMAE_WITH_CUBLAS
#include <cublas_v2.h>
#endif

namespace amae::cuda {
namespace {

// ---- amae's own kernel -----------------------------------------------------------------------
// One block computes a BM × BN tile of C; its 256 threads form a 16 × 16 grid and thread
// (tx, ty) owns the TM × TN micro-tile at rows ty·TM.., columns tx·TN... The K dimension goes in
// BK-deep slabs: the block stages op(A)[tile rows, slab] and op(B)[slab, tile columns] in shared
// memory (k-major, so the inner loop reads a row of each as float4), then every thread runs
// its TM·TN fused multiply-adds per k. Each element of C is one FMA chain over k in increasing
// order, so the result is deterministic and independent of the grid.
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int kGemmThreads = (BM / TM) * (BN / TN);  // 256
// Shared rows padded by 4 floats: the k-major stores of a row-major A (consecutive threads,
// consecutive k) then hit 2-way instead of 16-way bank conflicts, and rows stay 16-byte aligned
// for the float4 reads.
constexpr int kPad = 4;
static_assert(BM * BK % kGemmThreads == 0 && BN * BK % kGemmThreads == 0, "tile loads must divide evenly");

// The transposes are template parameters: the tile loads then compile to straight-line code.
// The batch index runs over blockIdx.z and the N tiles over blockIdx.y in grid-stride loops
// (those grid dimensions stop at 65535); the M tiles take blockIdx.x (up to 2³¹ − 1). The loop
// trip counts are the same for every thread of a block, so the __syncthreads inside are safe.
template <bool trans_a, bool trans_b>
__global__ void __launch_bounds__(kGemmThreads)
    sgemm_kernel(int64_t M, int64_t N, int64_t K, float alpha, const float* __restrict__ A,
                 int64_t lda, int64_t stride_a, const float* __restrict__ B, int64_t ldb, int64_t stride_b, float beta,
                 float* __restrict__ C, int64_t ldc, int64_t stride_c, int64_t batch, int64_t tiles_n) {
  __shared__ __align__(16) float As[BK][BM + kPad];  // As[k][i] = op(A)[m0 + i][k0 + k]
  __shared__ __align__(16) float Bs[BK][BN + kPad];  // Bs[k][j] = op(B)[k0 + k][n0 + j]
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = int64_t(blockIdx.x) * BM;

  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {
    const float* Az = A + z * stride_a;
    const float* Bz = B + z * stride_b;
    float* Cz = C + z * stride_c;
    for (int64_t tn = blockIdx.y; tn < tiles_n; tn += gridDim.y) {
      const int64_t n0 = tn * BN;
      float acc[TM][TN];
#pragma unroll
      for (int r = 0; r < TM; ++r)
#pragma unroll
        for (int c = 0; c < TN; ++c) acc[r][c] = 0.0f;

      for (int64_t k0 = 0; k0 < K; k0 += BK) {
        // Stage the slabs. Consecutive threads walk the stored matrix's contiguous dimension
        // (k for a row-major A, i for a transposed one; likewise for B) so global reads coalesce.
        // Elements outside op(A)/op(B) are zero, so partial tiles need no other care.
#pragma unroll
        for (int l = 0; l < BM * BK / kGemmThreads; ++l) {
          const int idx = tid + l * kGemmThreads;
          const int i = trans_a ? idx % BM : idx / BK;
          const int k = trans_a ? idx / BM : idx % BK;
          const int64_t gi = m0 + i, gk = k0 + k;
          float v = 0.0f;
          if (gi < M && gk < K) v = trans_a ? Az[gk * lda + gi] : Az[gi * lda + gk];
          As[k][i] = v;
        }
#pragma unroll
        for (int l = 0; l < BN * BK / kGemmThreads; ++l) {
          const int idx = tid + l * kGemmThreads;
          const int j = trans_b ? idx / BK : idx % BN;
          const int k = trans_b ? idx % BK : idx / BN;
          const int64_t gj = n0 + j, gk = k0 + k;
          float v = 0.0f;
          if (gj < N && gk < K) v = trans_b ? Bz[gj * ldb + gk] : Bz[gk * ldb + gj];
          Bs[k][j] = v;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
          const float4 a = *reinterpret_cast<const float4*>(&As[k][ty * TM]);
          const float4 b = *reinterpret_cast<const float4*>(&Bs[k][tx * TN]);
          const float av[TM] = {a.x, a.y, a.z, a.w};
          const float bv[TN] = {b.x, b.y, b.z, b.w};
#pragma unroll
          for (int r = 0; r < TM; ++r)
#pragma unroll
            for (int c = 0; c < TN; ++c) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
        }
        __syncthreads();  // the slabs are overwritten by the next iteration's loads
      }

#pragma unroll
      for (int r = 0; r < TM; ++r) {
        const int64_t gi = m0 + ty * TM + r;
        if (gi >= M) continue;
#pragma unroll
        for (int c = 0; c < TN; ++c) {
          const int64_t gj = n0 + tx * TN + c;
          if (gj >= N) continue;
          float* p = Cz + gi * ldc + gj;
          // beta == 0 must not read C: it may hold NaNs or be uninitialised.
          *p = beta == 0.0f ? alpha * acc[r][c] : alpha * acc[r][c] + beta * *p;
        }
      }
    }
  }
}

// C = beta·C over M×N (row stride ldc) in each batch entry: the whole product when K == 0 or
// alpha == 0, as in cpu::sgemm (which skips the multiply, so NaNs in A or B do not leak in).
// beta == 0 writes zeros without reading C; beta == 1 is skipped by the caller.
__global__ void scale_kernel(int64_t M, int64_t N, float beta, float* C, int64_t ldc, int64_t stride_c,
                             int64_t batch) {
  const int64_t per = M * N;
  AMAE_CUDA_FOR(idx, batch * per) {
    const int64_t z = idx / per, rem = idx % per, i = rem / N, j = rem % N;
    float* p = C + z * stride_c + i * ldc + j;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

void own_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
               int64_t ldc, int64_t stride_c, int64_t batch) {
  cudaStream_t s = stream();
  const int64_t tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
  AMAE_CHECK(tiles_m <= std::numeric_limits<int>::max(), "cuda::sgemm: M is too large");
  const dim3 grid(static_cast<unsigned>(tiles_m), static_cast<unsigned>(tiles_n < 65535 ? tiles_n : 65535),
                  static_cast<unsigned>(batch < 65535 ? batch : 65535));
  auto kernel = trans_a ? (trans_b ? sgemm_kernel<true, true> : sgemm_kernel<true, false>)
                        : (trans_b ? sgemm_kernel<false, true> : sgemm_kernel<false, false>);
  kernel<<<grid, kGemmThreads, 0, s>>>(M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                                       batch, tiles_n);
  AMAE_CUDA_LAUNCHED();
}

// ---- cuBLAS ----------------------------------------------------------------------------------
#ifdef AMAE_WITH_CUBLAS

[[noreturn]] void cublas_fail(cublasStatus_t st, const char* what) {
  throw std::runtime_error(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusName(st) + " (" +
                           cublasGetStatusString(st) + ")");
}

#define AMAE_CUBLAS_CHECK(call)                                               \
  do {                                                                        \
    const cublasStatus_t amae_st_ = (call);                                   \
    if (amae_st_ != CUBLAS_STATUS_SUCCESS) cublas_fail(amae_st_, #call);      \
  } while (0)

// One handle for the process, created on the first GEMM (on the device stream() makes current;
// the device cannot change after its first use, see select_device). A handle may not be used
// by two threads at once, and cublasSetStream + the GEMM must not interleave with another
// thread's, so the mutex is held from the stream setting through the enqueue.
std::mutex g_cublas_mutex;
cublasHandle_t g_cublas = nullptr;  // never destroyed: GEMMs may still be queued at exit

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw std::runtime_error(std::string("cuda::sgemm: ") + what + " = " + std::to_string(v) +
                             " does not fit cuBLAS's 32-bit int");
  return static_cast<int>(v);
}

void cublas_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                  int64_t ldc, int64_t stride_c, int64_t batch) {
  cudaStream_t s = stream();
  const cublasComputeType_t compute = math() == Math::F32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_16BF;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K");  // of the column-major Cᵀ
  const int ld_a = to_int(lda, "lda"), ld_b = to_int(ldb, "ldb"), ld_c = to_int(ldc, "ldc");
  std::lock_guard<std::mutex> g(g_cublas_mutex);
  if (!g_cublas) AMAE_CUBLAS_CHECK(cublasCreate(&g_cublas));
  AMAE_CUBLAS_CHECK(cublasSetStream(g_cublas, s));
  if (batch == 1) {
    AMAE_CUBLAS_CHECK(cublasGemmEx(g_cublas, op_b, op_a, m, n, k, &alpha, B, CUDA_R_32F, ld_b, A, CUDA_R_32F, ld_a,
                                   &beta, C, CUDA_R_32F, ld_c, compute, CUBLAS_GEMM_DEFAULT));
  } else {
    AMAE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(g_cublas, op_b, op_a, m, n, k, &alpha, B, CUDA_R_32F, ld_b,
                                                 static_cast<long long>(stride_b), A, CUDA_R_32F, ld_a,
                                                 static_cast<long long>(stride_a), &beta, C, CUDA_R_32F, ld_c,
                                                 static_cast<long long>(stride_c), to_int(batch, "batch"), compute,
                                                 CUBLAS_GEMM_DEFAULT));
  }
}

// AMAE_CUDA_GEMM=own: the own kernel even though cuBLAS is built in (read once).
bool use_own() {
  static const bool own = [] {
    const char* env = std::getenv("AMAE_CUDA_GEMM");
    return env && std::strcmp(env, "own") == 0;
  }();
  return own;
}

#endif  // AMAE_WITH_CUBLAS

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
          int64_t stride_c, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    if (beta == 1.0f) return;
    scale_kernel<<<blocks_for(batch * M * N), kThreads, 0, stream()>>>(M, N, beta, C, ldc, stride_c, batch);
    AMAE_CUDA_LAUNCHED();
    return;
  }
#ifdef AMAE_WITH_CUBLAS
  if (!use_own()) {
    cublas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
    return;
  }
#endif
  own_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                   int64_t ldc, int64_t stride_c, int64_t batch) {
  gemm(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}

}  // namespace amae::cuda
