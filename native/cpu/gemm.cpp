// Blocked, packed GEMM in the Goto/BLIS style.
//
//   for ic in M, step MB                        bounds the packed A panel (mb × kc)
//     for jc in N, step NC                      bounds the packed B block (kc × nc)
//       for pc in K, step KC                    K blocks are a function of K alone (determinism)
//         pack A[ic, pc] into MR-tall slivers and B[pc, jc] into NR-wide ones   (parallel)
//         parallel over tasks, each a group of MR slivers (× a group of NR slivers when M is
//         small): for each NR sliver, for each MR sliver, microkernel MR × NR over kc
//
// Packing lays each operand out exactly as the microkernel reads it (k-major slivers, zero-padded
// to a full MR or NR), so the kernel has no edge cases and no strides, and the transposes of A
// and B cost only the packing pass. Both packed operands are shared by the threads and live in
// buffers of the calling thread, allocated before any parallel region (a task never allocates,
// so it cannot throw).
//
// Determinism: an element of C is updated once per K block, in increasing K order; inside a
// block the microkernel runs one fused multiply-add chain per element over k in order. The K
// blocking depends on K alone, so no thread count, task split or edge tile changes the order of
// operations, and the AVX-512 and AVX2 kernels (which run the same chain) agree bit for bit.
#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../core/threads.h"

namespace amae::cpu {
namespace {

// Longest K block. KC sets how often C is read and written (once per block) and the size of a B
// sliver (KC × NR floats, 48 KiB at 384 × 32), which stays in L2 while a task's A slivers stream
// past it.
constexpr int64_t kKC = 384;
// Widest N block and tallest M block: the packed B block and A panel (KC × 3072 floats each,
// 4.5 MiB) live in L3. Their size, not the problem's, bounds the scratch memory.
constexpr int64_t kNC = 3072;
constexpr int64_t kMB = 3072;
// Most A rows in one task: the task's A slivers (MC × KC) are re-read for every B sliver and
// should stay in the core's L2 (1 MiB on Zen 4).
constexpr int64_t kMC = 192;
// Tasks per thread to aim for.
constexpr int64_t kTasksPerThread = 4;
// Below this many multiply-adds a GEMM runs on the calling thread: a hand-off costs more.
constexpr int64_t kSerialWork = 64 * 64 * 64;

// Grow-only, 64-byte aligned scratch: after the first calls of the largest shape, nothing is
// allocated.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(size_t n) {
    if (n > cap_) {
      std::free(p_);
      p_ = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
      if (!p_) {
        cap_ = 0;
        throw std::bad_alloc();
      }
      cap_ = n;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local Scratch tl_pack_a;
thread_local Scratch tl_pack_b;
// sgemm_direct's packed edge slivers.
thread_local Scratch tl_edge_a;
thread_local Scratch tl_edge_b;

// ---- packing ---------------------------------------------------------------------------------
// A sliver is W consecutive rows (of op(A)) or columns (of op(B)) of the matrix, laid out
// k-major: dst[k * W + i]. Indices past `w` are zero so edge slivers need no special kernel.
// Packing is memory-bound; it is written with AVX2, the build baseline, for both kernels.

// Source element (i, k) at src[k * ld + i]: each k is a contiguous run of w floats.
template <int W>
void pack_contiguous(const float* src, int64_t ld, int w, int64_t kc, float* dst) {
  if (w == W) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * W, src + k * ld, W * sizeof(float));
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    std::memcpy(dst + k * W, src + k * ld, static_cast<size_t>(w) * sizeof(float));
    std::memset(dst + k * W + w, 0, static_cast<size_t>(W - w) * sizeof(float));
  }
}

inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Source element (i, k) at src[i * ld + k]: a transpose, done in 8 × 8 register blocks. Rows past
// `w` read from a zero row, so padding comes out of the same transposes.
//
// W need not be a multiple of 8 (MR = 14, 6). A last, partial group of 8 lanes is stored whole:
// its extra lanes spill into the first lanes of the next k, which the full groups, stored after
// it (groups go last to first), and the next k's own store overwrite. Only the sliver's last k
// takes a masked store, which would otherwise write past the sliver; masked stores are slow on
// AMD, and packing A with one per k cost as much as the rest of the pack.
alignas(64) const float kZeroRow[kKC] = {};

template <int W>
void pack_transposed(const float* src, int64_t ld, int w, int64_t kc, float* dst) {
  const int64_t k8 = kc & ~int64_t{7};
  for (int g = (W - 1) / 8 * 8; g >= 0; g -= 8) {
    const int lanes = std::min(8, W - g);
    const float* row[8];
    for (int i = 0; i < 8; ++i) row[i] = g + i < w ? src + (g + i) * ld : kZeroRow;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t k = 0; k < k8; k += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(row[i] + k);
      transpose8x8(r);
      for (int t = 0; t < 8; ++t) {
        if (lanes == 8 || k + t + 1 < kc)
          _mm256_storeu_ps(dst + (k + t) * W + g, r[t]);
        else
          _mm256_maskstore_ps(dst + (k + t) * W + g, mask, r[t]);
      }
    }
    for (int64_t k = k8; k < kc; ++k)
      for (int i = 0; i < lanes; ++i) dst[k * W + g + i] = row[i][k];
  }
}

// ---- microkernels ----------------------------------------------------------------------------
// C[MR × NR] (row stride ldc) = alpha · Σ_k a[k]·b[k]ᵀ + beta · C, the sum a fused multiply-add
// chain over k in order. beta == 0 writes C without reading it.

using Kernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta);

// 14 × 32 uses 28 of the 32 zmm registers for accumulators, 2 for the B row and 1 for the
// broadcast A value: the most FMAs per loaded byte that fit. On Zen 4 (one 512-bit FMA per cycle)
// 14 × 32, 8 × 48, 6 × 64 and 12 × 32 all ran at the core's FMA peak within the noise of a shared
// machine; 14 × 32 leaves the most slack in load bandwidth.
//
// The tile body takes its operands with strides: element (r, k) of the A sliver at
// a[r·ars + k·aks], row k of the B sliver at b + k·bks. Packed slivers are (1, MR) and NR; the
// direct path (sgemm_direct) reads a matrix in place. The wrappers below fix the strides that are
// constants so that each compiles to its own addressing; the arithmetic is the same in all.
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void tile_avx512(int64_t kc, const float* a, int64_t ars,
                                                                          int64_t aks, const float* b, int64_t bks,
                                                                          float* c, int64_t ldc, float alpha,
                                                                          float beta) {
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + v * 16);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * ars]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += aks;
    b += bks;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * 16;
      _mm512_storeu_ps(p, beta == 0.0f ? _mm512_mul_ps(va, acc[r][v])
                                       : _mm512_fmadd_ps(va, acc[r][v], _mm512_mul_ps(vb, _mm512_loadu_ps(p))));
    }
}

template <int MR, int NV>
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* a, const float* b, float* c,
                                                      int64_t ldc, float alpha, float beta) {
  tile_avx512<MR, NV>(kc, a, 1, MR, b, NV * 16, c, ldc, alpha, beta);
}
// A row-major in place (rows ars apart), or column-major / a packed sliver (columns aks apart).
template <int MR, int NV>
__attribute__((target("avx512f"))) void rows_avx512(int64_t kc, const float* a, int64_t ars, const float* b,
                                                    int64_t bks, float* c, int64_t ldc, float alpha, float beta) {
  tile_avx512<MR, NV>(kc, a, ars, 1, b, bks, c, ldc, alpha, beta);
}
template <int MR, int NV>
__attribute__((target("avx512f"))) void cols_avx512(int64_t kc, const float* a, int64_t aks, const float* b,
                                                    int64_t bks, float* c, int64_t ldc, float alpha, float beta) {
  tile_avx512<MR, NV>(kc, a, 1, aks, b, bks, c, ldc, alpha, beta);
}

// 6 × 16 uses 12 of the 16 ymm registers for accumulators.
template <int MR, int NV>
__attribute__((always_inline)) inline void tile_avx2(int64_t kc, const float* a, int64_t ars, int64_t aks,
                                                     const float* b, int64_t bks, float* c, int64_t ldc, float alpha,
                                                     float beta) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + v * 8);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * ars);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += aks;
    b += bks;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * 8;
      _mm256_storeu_ps(p, beta == 0.0f ? _mm256_mul_ps(va, acc[r][v])
                                       : _mm256_fmadd_ps(va, acc[r][v], _mm256_mul_ps(vb, _mm256_loadu_ps(p))));
    }
}

template <int MR, int NV>
void kernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  tile_avx2<MR, NV>(kc, a, 1, MR, b, NV * 8, c, ldc, alpha, beta);
}
template <int MR, int NV>
void rows_avx2(int64_t kc, const float* a, int64_t ars, const float* b, int64_t bks, float* c, int64_t ldc,
               float alpha, float beta) {
  tile_avx2<MR, NV>(kc, a, ars, 1, b, bks, c, ldc, alpha, beta);
}
template <int MR, int NV>
void cols_avx2(int64_t kc, const float* a, int64_t aks, const float* b, int64_t bks, float* c, int64_t ldc,
               float alpha, float beta) {
  tile_avx2<MR, NV>(kc, a, 1, aks, b, bks, c, ldc, alpha, beta);
}

// A kernel whose A sliver is read with one free stride (rows_*: between rows, cols_*: between
// k steps) and whose B rows are bks apart.
using StridedKernel = void (*)(int64_t kc, const float* a, int64_t a_stride, const float* b, int64_t bks, float* c,
                               int64_t ldc, float alpha, float beta);

struct Isa {
  int mr, nr;
  Kernel kernel;
  StridedKernel rows, cols;
  // A shorter cols kernel for sgemm_direct's partial last sliver of A, `short_mr` rows (0: none).
  // Attention's query tiles (64 = 4·14 + 8 rows) end in one: a full-height tile wasted 6 of its
  // 14 rows and went through the scratch tile.
  int short_mr;
  StridedKernel short_cols;
  void (*pack_contiguous_a)(const float*, int64_t, int, int64_t, float*);
  void (*pack_transposed_a)(const float*, int64_t, int, int64_t, float*);
  void (*pack_contiguous_b)(const float*, int64_t, int, int64_t, float*);
  void (*pack_transposed_b)(const float*, int64_t, int, int64_t, float*);
};

template <int MR, int NR>
constexpr Isa make_isa(Kernel k, StridedKernel rows, StridedKernel cols, int short_mr, StridedKernel short_cols) {
  return {MR,        NR, k, rows, cols, short_mr, short_cols, pack_contiguous<MR>, pack_transposed<MR>, pack_contiguous<NR>,
          pack_transposed<NR>};
}

constexpr Isa kAvx512 =
    make_isa<14, 32>(kernel_avx512<14, 2>, rows_avx512<14, 2>, cols_avx512<14, 2>, 8, cols_avx512<8, 2>);
constexpr Isa kAvx2 = make_isa<6, 16>(kernel_avx2<6, 2>, rows_avx2<6, 2>, cols_avx2<6, 2>, 0, nullptr);
constexpr int kMaxTile = 14 * 32;

// AVX-512 where the CPU has it; AMAE_GEMM_ISA=avx2 forces the fallback (the tests use it to
// cover that path on AVX-512 machines).
const Isa& isa() {
  static const Isa& chosen = []() -> const Isa& {
    const char* env = std::getenv("AMAE_GEMM_ISA");
    if (env && std::strcmp(env, "avx2") == 0) return kAvx2;
    return __builtin_cpu_supports("avx512f") ? kAvx512 : kAvx2;
  }();
  return chosen;
}

// ---- driver ----------------------------------------------------------------------------------

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void scale(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f)
      std::fill(c, c + N, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// One m × n tile of C written by fn(c, ldc), a full-size kernel call. Edge tiles go through a
// full-size scratch tile so the kernel (and its arithmetic) is the same for every element.
template <class Fn>
inline void with_tile(const Isa& s, float* c, int64_t ldc, int64_t m, int64_t n, float beta, const Fn& fn,
                      int64_t tile_rows = 0) {
  if (m == (tile_rows ? tile_rows : s.mr) && n == s.nr) {
    fn(c, ldc);
    return;
  }
  alignas(64) float tile[kMaxTile];
  if (beta != 0.0f)
    for (int64_t i = 0; i < m; ++i) std::memcpy(tile + i * s.nr, c + i * ldc, static_cast<size_t>(n) * sizeof(float));
  fn(tile, s.nr);
  for (int64_t i = 0; i < m; ++i) std::memcpy(c + i * ldc, tile + i * s.nr, static_cast<size_t>(n) * sizeof(float));
}

inline void run_tile(const Isa& s, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                     int64_t n, float alpha, float beta) {
  with_tile(s, c, ldc, m, n, beta, [&](float* t, int64_t ldt) { s.kernel(kc, a, b, t, ldt, alpha, beta); });
}

// The K block length: a function of K alone (see the determinism note at the top), shared by
// sgemm and sgemm_direct so that both sum every element in the same order.
int64_t k_block(int64_t K) { return ceil_div(K, ceil_div(K, kKC)); }

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale(M, N, beta, C, ldc);
    return;
  }
  const Isa& s = isa();
  const int64_t MR = s.mr, NR = s.nr;
  const bool serial = M * N * K < kSerialWork;
  const int threads = serial ? 1 : num_threads();

  // Blocks of near-equal length (no sliver of a block at the end), M and N blocks in whole
  // slivers. The K blocking is a function of K only; the M and N blocking only group
  // independent outputs.
  const int64_t kc_max = k_block(K);
  const int64_t mb_max = ceil_div(ceil_div(M, ceil_div(M, kMB)), MR) * MR;
  const int64_t nc_max = ceil_div(ceil_div(N, ceil_div(N, kNC)), NR) * NR;
  float* ap = tl_pack_a.get(static_cast<size_t>(kc_max * mb_max));
  float* bp = tl_pack_b.get(static_cast<size_t>(kc_max * nc_max));

  for (int64_t ic = 0; ic < M; ic += mb_max) {
    const int64_t mb = std::min(mb_max, M - ic);
    const int64_t m_slivers = ceil_div(mb, MR);
    // Tasks: the MR slivers in groups of at most kMC rows, whose A slivers stay in L2 while the
    // B slivers stream past. Where that gives fewer than kTasksPerThread groups per thread, N is
    // split as well, rather than cutting A into groups too small to repay each B sliver's trip
    // through the cache (a group of two slivers reads the whole B block for two microkernel
    // calls per B sliver). The task count is a whole number of rounds where the slivers allow,
    // so that dynamic scheduling, which evens out a core busy with something else, ends even.
    const int64_t tasks_want = threads * kTasksPerThread;
    int64_t m_groups = std::min(ceil_div(m_slivers, std::max<int64_t>(1, kMC / MR)), m_slivers);
    if (m_groups >= tasks_want) m_groups = std::min(ceil_div(m_groups, threads) * threads, m_slivers);
    const int64_t n_groups_want = ceil_div(tasks_want, m_groups);

    for (int64_t jc = 0; jc < N; jc += nc_max) {
      const int64_t nc = std::min(nc_max, N - jc);
      const int64_t n_slivers = ceil_div(nc, NR);
      int64_t n_groups = std::min(n_groups_want, n_slivers);
      while (m_groups * n_groups % threads != 0 && n_groups < n_slivers) ++n_groups;

      for (int64_t pc = 0; pc < K; pc += kc_max) {
        const int64_t kc = std::min(kc_max, K - pc);
        const float beta_k = pc == 0 ? beta : 1.0f;

        // Items [0, n_slivers) are B slivers, the rest A slivers.
        auto pack = [&](int64_t p0, int64_t p1) {
          for (int64_t p = p0; p < p1; ++p) {
            if (p < n_slivers) {
              const int64_t j = jc + p * NR;
              const int w = static_cast<int>(std::min(NR, jc + nc - j));
              float* dst = bp + p * kc * NR;
              if (trans_b)
                s.pack_transposed_b(B + j * ldb + pc, ldb, w, kc, dst);
              else
                s.pack_contiguous_b(B + pc * ldb + j, ldb, w, kc, dst);
            } else {
              const int64_t i = ic + (p - n_slivers) * MR;
              const int h = static_cast<int>(std::min(MR, ic + mb - i));
              float* dst = ap + (p - n_slivers) * kc * MR;
              if (trans_a)
                s.pack_contiguous_a(A + pc * lda + i, lda, h, kc, dst);
              else
                s.pack_transposed_a(A + i * lda + pc, lda, h, kc, dst);
            }
          }
        };
        auto compute = [&](int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t mg = t / n_groups, ng = t % n_groups;
            // Group g of G over n items: [g·n/G, (g+1)·n/G), sizes within one of each other.
            const int64_t ms0 = mg * m_slivers / m_groups, ms1 = (mg + 1) * m_slivers / m_groups;
            const int64_t ns0 = ng * n_slivers / n_groups, ns1 = (ng + 1) * n_slivers / n_groups;
            for (int64_t js = ns0; js < ns1; ++js) {
              const int64_t j = jc + js * NR;
              for (int64_t is = ms0; is < ms1; ++is) {
                const int64_t i = ic + is * MR;
                run_tile(s, kc, ap + is * kc * MR, bp + js * kc * NR, C + i * ldc + j, ldc, std::min(MR, ic + mb - i),
                         std::min(NR, jc + nc - j), alpha, beta_k);
              }
            }
          }
        };
        const int64_t items = n_slivers + m_slivers, tasks = m_groups * n_groups;
        if (serial) {
          pack(0, items);
          compute(0, tasks);
        } else {
          parallel_for(items, ceil_div(items, threads * kTasksPerThread), pack);
          parallel_for(tasks, 1, compute);
        }
      }
    }
  }
}

void sgemm_direct(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale(M, N, beta, C, ldc);
    return;
  }
  const Isa& s = isa();
  const int64_t MR = s.mr, NR = s.nr;
  const int64_t kc_max = k_block(K);
  // Full slivers are read in place; only a partial last one (of A or of B) is packed, zero-padded
  // to full size as sgemm packs it.
  const int64_t m_full = M / MR * MR;
  float* a_edge = tl_edge_a.get(static_cast<size_t>(kc_max * MR));
  float* b_edge = tl_edge_b.get(static_cast<size_t>(kc_max * NR));
  for (int64_t pc = 0; pc < K; pc += kc_max) {
    const int64_t kc = std::min(kc_max, K - pc);
    const float beta_k = pc == 0 ? beta : 1.0f;
    if (m_full < M) {
      const int h = static_cast<int>(M - m_full);
      if (trans_a)
        s.pack_contiguous_a(A + pc * lda + m_full, lda, h, kc, a_edge);
      else
        s.pack_transposed_a(A + m_full * lda + pc, lda, h, kc, a_edge);
    }
    for (int64_t j = 0; j < N; j += NR) {
      const int64_t n = std::min(NR, N - j);
      const float* b = B + pc * ldb + j;
      int64_t bks = ldb;
      if (n < NR) {
        s.pack_contiguous_b(b, ldb, static_cast<int>(n), kc, b_edge);
        b = b_edge;
        bks = NR;
      }
      for (int64_t i = 0; i < M; i += MR) {
        const int64_t m = std::min(MR, M - i);
        if (m <= s.short_mr) {
          with_tile(s, C + i * ldc + j, ldc, m, n, beta_k,
                    [&](float* t, int64_t ldt) { s.short_cols(kc, a_edge, MR, b, bks, t, ldt, alpha, beta_k); },
                    s.short_mr);
          continue;
        }
        with_tile(s, C + i * ldc + j, ldc, m, n, beta_k, [&](float* t, int64_t ldt) {
          if (m < MR)
            s.cols(kc, a_edge, MR, b, bks, t, ldt, alpha, beta_k);
          else if (trans_a)
            s.cols(kc, A + pc * lda + i, lda, b, bks, t, ldt, alpha, beta_k);
          else
            s.rows(kc, A + i * lda + pc, lda, b, bks, t, ldt, alpha, beta_k);
        });
      }
    }
  }
}

}  // namespace amae::cpu
