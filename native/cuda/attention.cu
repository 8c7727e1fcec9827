// Multi-head self-attention over packed variable-length sequences, flash-style in fp32: scores
// are computed tile by tile in shared memory and never stored, the forward keeps a running max
// and sum per query row (online softmax) and saves only lse = m + log(l), and the backward
// recomputes the probabilities from lse.
//
// Mirrors cpu/attention.cpp: the same query tiles numbered consecutively over all segments, the
// same geometry, the same lse layout [heads, T]. Differences, and why:
//  - The segment table lives on the device (offsets is a device tensor and ops must not read
//    device data on the host), so a one-block kernel builds it into the Workspace and each block
//    finds its segment by binary search. The grid is sized by an upper bound on the tile count,
//    floor(T / B) + nseg, and blocks past the last tile return at once.
//  - The backward runs as three kernels instead of one loop per (segment, head): D_i = dO_i·O_i,
//    then one kernel over key tiles that owns dK and dV (walking the query tiles), then one over
//    query tiles that owns dQ (walking the key tiles). Every gradient element is therefore
//    summed by one thread in one fixed order: deterministic, no atomics.
//
// Tiles: B rows × DMAX columns, DMAX the head dimension rounded up to 16, 32, 64 or 128 (columns
// past d are zero-filled in shared memory and never written back), B = 32 up to DMAX 64 and 16
// at DMAX 128, so every kernel's static shared memory stays under 48 KB (the largest is the
// key-tile backward at DMAX 64: about 41 KB).
//
// Performance note: this is the plain-CUDA-core version (one FMA per two shared loads in the
// score and PV products). The fast path later is tensor cores (mma.sync / wgmma on bf16 or tf32
// tiles, FlashAttention-2 style with K/V double-buffered through cp.async/TMA); the tile loop,
// the online softmax and the three-kernel backward stay as they are.
#include "../ops/attention.h"

#include <cmath>

#include "context.cuh"

namespace amae::cuda {

namespace {

constexpr int kAttnThreads = 128;  // 4 warps per block in every attention kernel

// Rows per tile for a head dimension padded to DMAX (see the file comment for the shared-memory sums).
template <int DMAX>
struct Tile {
  static_assert(DMAX == 16 || DMAX == 32 || DMAX == 64 || DMAX == 128, "DMAX must be 16, 32, 64 or 128");
  static constexpr int B = DMAX <= 64 ? 32 : 16;
  static constexpr int KP = DMAX + 1;  // row stride of K/V tiles read by (row, key) threads: no bank conflicts
  // A thread owns the output elements (r, c) with c = tid % DMAX and r = tid / DMAX + k·kRowStep.
  static constexpr int kRowStep = kAttnThreads / DMAX;
  static constexpr int kOwned = B * DMAX / kAttnThreads;
  static_assert(kAttnThreads % DMAX == 0 && (B * DMAX) % kAttnThreads == 0, "ownership must tile exactly");
  static_assert(B <= 32, "the online softmax puts one key per lane");
};

// The device-side segment table (both arrays in the Workspace).
struct SegMap {
  const int* start;       // [nseg + 1] token offsets, clamped to [0, T]
  const int* tile_start;  // [nseg + 1] index of each segment's first tile
  int nseg;
};

// One block builds the table for tiles of B rows: start[s] = clamp(offsets[s], 0, T),
// len_s = max(0, start[s+1] − start[s]), tile_start = exclusive prefix sum of ceil(len_s / B).
// The binding has validated offsets (0 = offsets[0] ≤ … ≤ offsets[nseg] = T); the clamping only
// guarantees that a bad table can never make a kernel read or write outside its tensors.
// The prefix sum is a block scan over chunks of blockDim.x segments, carried from chunk to chunk.
__global__ void segment_table_kernel(const int32_t* __restrict__ offsets, int nseg, int T, int B,
                                     int* __restrict__ start, int* __restrict__ tile_start) {
  __shared__ int warp_total[32];
  __shared__ int carry;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
  if (tid == 0) {
    carry = 0;
    tile_start[0] = 0;
  }
  __syncthreads();
  for (int base = 0; base < nseg; base += blockDim.x) {
    const int s = base + tid;
    int tiles = 0;
    if (s < nseg) {
      const int a = min(max(offsets[s], 0), T);
      const int b = min(max(offsets[s + 1], 0), T);
      tiles = b > a ? (b - a + B - 1) / B : 0;
      start[s] = a;
      if (s == nseg - 1) start[nseg] = b;
    }
    // Inclusive scan within the warp.
    int v = tiles;
    for (int o = 1; o < 32; o <<= 1) {
      const int n = __shfl_up_sync(0xffffffffu, v, o);
      if (lane >= o) v += n;
    }
    if (lane == 31) warp_total[warp] = v;
    __syncthreads();
    // Inclusive scan of the warp totals, by warp 0.
    if (warp == 0) {
      int w = lane < warps ? warp_total[lane] : 0;
      for (int o = 1; o < 32; o <<= 1) {
        const int n = __shfl_up_sync(0xffffffffu, w, o);
        if (lane >= o) w += n;
      }
      if (lane < warps) warp_total[lane] = w;
    }
    __syncthreads();
    const int inclusive = carry + (warp > 0 ? warp_total[warp - 1] : 0) + v;
    if (s < nseg) tile_start[s + 1] = inclusive;
    __syncthreads();  // every thread has read carry and warp_total
    if (tid == blockDim.x - 1) carry = inclusive;  // the chunk's total (threads past nseg add 0)
    __syncthreads();
  }
}

// The segment of tile t and its first row a, length L and the tile's first row within the
// segment; false when t is past the last tile. Every thread of a block calls this with the same
// t, so a block returns as a whole, before any barrier.
__device__ __forceinline__ bool locate(const SegMap& m, int t, int B, int& a, int& L, int& r0) {
  if (t >= m.tile_start[m.nseg]) return false;
  // Invariant: tile_start[lo] ≤ t < tile_start[hi]. It ends on the segment holding t, which has
  // at least one tile; empty segments have tile_start[s] == tile_start[s+1] and are stepped over.
  int lo = 0, hi = m.nseg;
  while (hi - lo > 1) {
    const int mid = (lo + hi) >> 1;
    if (m.tile_start[mid] <= t) lo = mid;
    else hi = mid;
  }
  a = m.start[lo];
  L = max(m.start[lo + 1] - a, 0);
  r0 = (t - m.tile_start[lo]) * B;
  return true;
}

// Loads rows [row0, row0 + rows) of a head slice (columns col0 + [0, d) of a matrix with row
// stride ld) into a shared tile [B][stride]; rows past `rows` and columns past d become 0, so
// the products over a tile need no bounds of their own.
template <int DMAX, int STRIDE>
__device__ __forceinline__ void load_tile(float* tile, const float* __restrict__ src, int64_t ld, int64_t row0,
                                          int rows, int64_t col0, int d) {
  constexpr int B = Tile<DMAX>::B;
  for (int i = threadIdx.x; i < B * DMAX; i += kAttnThreads) {
    const int r = i / DMAX, c = i % DMAX;
    tile[r * STRIDE + c] = (r < rows && c < d) ? src[(row0 + r) * ld + col0 + c] : 0.0f;
  }
}

// Σ_c a[c]·b[c] over the head dimension.
__device__ __forceinline__ float dot(const float* a, const float* b, int d) {
  float s = 0.0f;
#pragma unroll 4
  for (int c = 0; c < d; ++c) s += a[c] * b[c];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Forward: one block per (query tile, head). Q stays in shared memory; K/V tiles of the same
// segment stream through it; each warp runs the online softmax of its rows (one key per lane)
// and each thread rescales and accumulates its own output elements in registers.
template <int DMAX>
__global__ void __launch_bounds__(kAttnThreads)
    attention_forward_kernel(const float* __restrict__ X, float* __restrict__ O, float* __restrict__ LSE, SegMap map,
                             int T, int E, int d, float scale) {
  using G = Tile<DMAX>;
  constexpr int B = G::B, KP = G::KP, kWarps = kAttnThreads / 32, kRowsPerWarp = B / kWarps;
  __shared__ float Qs[B][DMAX];
  __shared__ float Ks[B][KP];
  __shared__ float Vs[B][DMAX];
  __shared__ float Ps[B][B];     // scores, then probabilities, of the current key tile
  __shared__ float alpha_s[B];   // per row: the factor rescaling the accumulators to the new max
  __shared__ float inv_l_s[B];   // per row: 1 / the final sum

  int a, L, q0;
  if (!locate(map, blockIdx.x, B, a, L, q0)) return;
  const int h = blockIdx.y, tq = min(B, L - q0);
  const int64_t ld = 3 * int64_t(E), col = int64_t(h) * d;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  load_tile<DMAX, DMAX>(&Qs[0][0], X, ld, a + q0, tq, col, d);

  // Running max and sum of warp `warp`'s rows r = warp + i·kWarps, kept (identically) by every lane.
  float m_run[kRowsPerWarp], l_run[kRowsPerWarp];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m_run[i] = -INFINITY;
    l_run[i] = 0.0f;
  }
  const int c_own = tid % DMAX, r_own = tid / DMAX;
  float acc[G::kOwned];
#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) acc[k] = 0.0f;

  for (int k0 = 0; k0 < L; k0 += B) {
    const int tk = min(B, L - k0);
    __syncthreads();  // the previous tile's readers of Ks/Vs/Ps/alpha_s are done (first pass: Qs is written)
    load_tile<DMAX, KP>(&Ks[0][0], X, ld, a + k0, tk, E + col, d);
    load_tile<DMAX, DMAX>(&Vs[0][0], X, ld, a + k0, tk, 2 * int64_t(E) + col, d);
    __syncthreads();

    // Scaled scores; keys past the tile's end get −inf, i.e. probability 0. Lanes of a warp take
    // consecutive keys of the same row: Qs is broadcast, Ks rows are KP apart (distinct banks).
    for (int i = tid; i < B * B; i += kAttnThreads) {
      const int r = i / B, j = i % B;
      Ps[r][j] = j < tk ? dot(Qs[r], Ks[j], d) * scale : -INFINITY;
    }
    __syncthreads();

    // Online softmax, one row at a time per warp, lane j holding key j. Every tile has at least
    // one valid key, so m_new is finite and exp(−inf − m_new) = 0 masks the rest. On the first
    // tile m_old = −inf gives alpha = 0, which zeroes nothing but the (already zero) accumulators.
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp + i * kWarps;
      const float s = lane < B ? Ps[r][lane] : -INFINITY;
      const float m_new = fmaxf(m_run[i], warp_max(s));
      const float p = lane < B ? expf(s - m_new) : 0.0f;
      const float alpha = expf(m_run[i] - m_new);
      l_run[i] = l_run[i] * alpha + warp_sum(p);
      m_run[i] = m_new;
      if (lane < B) Ps[r][lane] = p;  // each lane rewrites only the entry it read
      if (lane == 0) alpha_s[r] = alpha;
    }
    __syncthreads();

    // acc(r, c) = acc·alpha_r + Σ_j P[r][j]·V[j][c]. Keys past tk have P = 0 and V = 0.
#pragma unroll
    for (int k = 0; k < G::kOwned; ++k) {
      const int r = r_own + k * G::kRowStep;
      float v = acc[k] * alpha_s[r];
#pragma unroll 8
      for (int j = 0; j < B; ++j) v += Ps[r][j] * Vs[j][c_own];
      acc[k] = v;
    }
  }

  // lse and 1/l of each row (rows past tq are padding: computed, never written).
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp + i * kWarps;
    if (lane == 0) {
      inv_l_s[r] = 1.0f / l_run[i];
      if (r < tq) LSE[int64_t(h) * T + a + q0 + r] = m_run[i] + logf(l_run[i]);
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) {
    const int r = r_own + k * G::kRowStep;
    if (r < tq && c_own < d) O[int64_t(a + q0 + r) * E + col + c_own] = acc[k] * inv_l_s[r];
  }
}

// ---------------------------------------------------------------------------------------------
// Backward, step 1: Dv[h, i] = Σ_c dO[i, h·d + c]·O[i, h·d + c] (= Σ_j P_ij·dP_ij, the softmax
// Jacobian's correction term), one warp per (token, head), laid out [heads, T] like lse.
__global__ void attention_rowdot_kernel(const float* __restrict__ O, const float* __restrict__ DO,
                                        float* __restrict__ Dv, int T, int E, int heads, int d) {
  const int64_t warps = int64_t(T) * heads;
  const int lane = threadIdx.x & 31;
  for (int64_t w = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; w < warps;
       w += (int64_t(gridDim.x) * blockDim.x) >> 5) {
    const int64_t t = w / heads;
    const int h = int(w % heads);
    const float* o = O + t * E + int64_t(h) * d;
    const float* g = DO + t * E + int64_t(h) * d;
    float s = 0.0f;
    for (int c = lane; c < d; c += 32) s += g[c] * o[c];
    s = warp_sum(s);
    if (lane == 0) Dv[int64_t(h) * T + t] = s;
  }
}

// Backward, step 2: dK and dV. One block per (key tile, head), K and V of the tile held in shared
// memory while the segment's query tiles stream past:
//   P = exp(scale·Q·Kᵀ − lse),  dS = P ⊙ (dO·Vᵀ − D),  dV += Pᵀ·dO,  dK += scale·dSᵀ·Q.
template <int DMAX>
__global__ void __launch_bounds__(kAttnThreads)
    attention_dkv_kernel(const float* __restrict__ X, const float* __restrict__ DO, const float* __restrict__ LSE,
                         const float* __restrict__ Dv, float* __restrict__ DX, SegMap map, int T, int E, int d,
                         float scale) {
  using G = Tile<DMAX>;
  constexpr int B = G::B, KP = G::KP;
  __shared__ float Ks[B][KP];
  __shared__ float Vs[B][KP];
  __shared__ float Qs[B][DMAX];
  __shared__ float dOs[B][DMAX];
  __shared__ float Ps[B][B];
  __shared__ float dSs[B][B];
  __shared__ float lse_s[B], D_s[B];

  int a, L, k0;
  if (!locate(map, blockIdx.x, B, a, L, k0)) return;
  const int h = blockIdx.y, tk = min(B, L - k0);
  const int64_t ld = 3 * int64_t(E), col = int64_t(h) * d;
  const int tid = threadIdx.x;

  load_tile<DMAX, KP>(&Ks[0][0], X, ld, a + k0, tk, E + col, d);
  load_tile<DMAX, KP>(&Vs[0][0], X, ld, a + k0, tk, 2 * int64_t(E) + col, d);

  // This thread owns dK/dV elements (j, c) with c = c_own, j = j_own + k·kRowStep.
  const int c_own = tid % DMAX, j_own = tid / DMAX;
  float dk[G::kOwned], dv[G::kOwned];
#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) dk[k] = dv[k] = 0.0f;

  for (int q0 = 0; q0 < L; q0 += B) {
    const int tq = min(B, L - q0);
    __syncthreads();  // the previous tile's readers of Qs/dOs/Ps/dSs are done (first pass: Ks/Vs written)
    load_tile<DMAX, DMAX>(&Qs[0][0], X, ld, a + q0, tq, col, d);
    load_tile<DMAX, DMAX>(&dOs[0][0], DO, E, a + q0, tq, col, d);
    for (int r = tid; r < B; r += kAttnThreads) {
      lse_s[r] = r < tq ? LSE[int64_t(h) * T + a + q0 + r] : 0.0f;
      D_s[r] = r < tq ? Dv[int64_t(h) * T + a + q0 + r] : 0.0f;
    }
    __syncthreads();

    // P and dS of every (query row r, key j) pair; padding rows and keys get 0 in both.
    for (int i = tid; i < B * B; i += kAttnThreads) {
      const int r = i / B, j = i % B;
      float p = 0.0f, ds = 0.0f;
      if (r < tq && j < tk) {
        p = expf(dot(Qs[r], Ks[j], d) * scale - lse_s[r]);
        ds = p * (dot(dOs[r], Vs[j], d) - D_s[r]);
      }
      Ps[r][j] = p;
      dSs[r][j] = ds;
    }
    __syncthreads();

    // dV(j, c) += Σ_r P[r][j]·dO[r][c];  dK(j, c) += Σ_r dS[r][j]·Q[r][c]  (scale applied at the end).
#pragma unroll
    for (int k = 0; k < G::kOwned; ++k) {
      const int j = j_own + k * G::kRowStep;
      float v = dv[k], g = dk[k];
#pragma unroll 8
      for (int r = 0; r < B; ++r) {
        v += Ps[r][j] * dOs[r][c_own];
        g += dSs[r][j] * Qs[r][c_own];
      }
      dv[k] = v;
      dk[k] = g;
    }
  }

  // Add into dqkv: each (key row, column) of this head belongs to this block alone.
#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) {
    const int j = j_own + k * G::kRowStep;
    if (j < tk && c_own < d) {
      float* row = DX + int64_t(a + k0 + j) * ld + col + c_own;
      row[E] += dk[k] * scale;
      row[2 * int64_t(E)] += dv[k];
    }
  }
}

// Backward, step 3: dQ. One block per (query tile, head), Q, dO, lse and D of the tile held
// while the segment's key tiles stream past: dQ += scale·dS·K.
template <int DMAX>
__global__ void __launch_bounds__(kAttnThreads)
    attention_dq_kernel(const float* __restrict__ X, const float* __restrict__ DO, const float* __restrict__ LSE,
                        const float* __restrict__ Dv, float* __restrict__ DX, SegMap map, int T, int E, int d,
                        float scale) {
  using G = Tile<DMAX>;
  constexpr int B = G::B, KP = G::KP;
  __shared__ float Qs[B][DMAX];
  __shared__ float dOs[B][DMAX];
  __shared__ float Ks[B][KP];
  __shared__ float Vs[B][KP];
  __shared__ float dSs[B][B];
  __shared__ float lse_s[B], D_s[B];

  int a, L, q0;
  if (!locate(map, blockIdx.x, B, a, L, q0)) return;
  const int h = blockIdx.y, tq = min(B, L - q0);
  const int64_t ld = 3 * int64_t(E), col = int64_t(h) * d;
  const int tid = threadIdx.x;

  load_tile<DMAX, DMAX>(&Qs[0][0], X, ld, a + q0, tq, col, d);
  load_tile<DMAX, DMAX>(&dOs[0][0], DO, E, a + q0, tq, col, d);
  for (int r = tid; r < B; r += kAttnThreads) {
    lse_s[r] = r < tq ? LSE[int64_t(h) * T + a + q0 + r] : 0.0f;
    D_s[r] = r < tq ? Dv[int64_t(h) * T + a + q0 + r] : 0.0f;
  }

  const int c_own = tid % DMAX, r_own = tid / DMAX;
  float dq[G::kOwned];
#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) dq[k] = 0.0f;

  for (int k0 = 0; k0 < L; k0 += B) {
    const int tk = min(B, L - k0);
    __syncthreads();  // the previous tile's readers of Ks/Vs/dSs are done (first pass: Qs/dOs/lse_s/D_s written)
    load_tile<DMAX, KP>(&Ks[0][0], X, ld, a + k0, tk, E + col, d);
    load_tile<DMAX, KP>(&Vs[0][0], X, ld, a + k0, tk, 2 * int64_t(E) + col, d);
    __syncthreads();

    for (int i = tid; i < B * B; i += kAttnThreads) {
      const int r = i / B, j = i % B;
      float ds = 0.0f;
      if (r < tq && j < tk) {
        const float p = expf(dot(Qs[r], Ks[j], d) * scale - lse_s[r]);
        ds = p * (dot(dOs[r], Vs[j], d) - D_s[r]);
      }
      dSs[r][j] = ds;
    }
    __syncthreads();

    // dQ(r, c) += Σ_j dS[r][j]·K[j][c]  (scale applied at the end).
#pragma unroll
    for (int k = 0; k < G::kOwned; ++k) {
      const int r = r_own + k * G::kRowStep;
      float g = dq[k];
#pragma unroll 8
      for (int j = 0; j < B; ++j) g += dSs[r][j] * Ks[j][c_own];
      dq[k] = g;
    }
  }

#pragma unroll
  for (int k = 0; k < G::kOwned; ++k) {
    const int r = r_own + k * G::kRowStep;
    if (r < tq && c_own < d) DX[int64_t(a + q0 + r) * ld + col + c_own] += dq[k] * scale;
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.

struct Geometry {
  int64_t T, E, heads, d;
  float scale;
};

Geometry geometry(const Tensor& qkv, int heads) {
  const int64_t T = qkv.dim(0), E = qkv.dim(1) / 3;
  AMAE_CHECK(qkv.ndim == 2 && qkv.dim(1) == 3 * E && E > 0 && heads > 0 && E % heads == 0,
             "attention: qkv must be [T, 3E] with E divisible by heads");
  const int64_t d = E / heads;
  AMAE_CHECK(d <= 128, "attention (CUDA): head dimension above 128 is not supported");
  // The kernels index rows and the tile table with int; columns and element offsets are int64.
  AMAE_CHECK(T < (int64_t(1) << 31) - 1 && 3 * E < (int64_t(1) << 31), "attention (CUDA): qkv too large");
  return {T, E, heads, d, 1.0f / std::sqrt(static_cast<float>(d))};
}

// Head dimension d padded to the template's DMAX.
int padded_dim(int64_t d) { return d <= 16 ? 16 : d <= 32 ? 32 : d <= 64 ? 64 : 128; }
int tile_rows(int dmax) { return dmax <= 64 ? 32 : 16; }

int segment_count(const Tensor& offsets) {
  AMAE_CHECK(offsets.dtype == DType::I32 && offsets.device == Device::CUDA,
             "attention (CUDA): offsets must be an Int32 device tensor");
  const int64_t nseg = offsets.numel() - 1;
  AMAE_CHECK(nseg >= 1 && nseg < (int64_t(1) << 30), "attention: offsets needs at least two entries");
  return int(nseg);
}

// Enqueues the segment-table kernel into two parts of `ws`.
SegMap build_segment_table(Workspace& ws, const Tensor& offsets, int nseg, int64_t T, int B, cudaStream_t st) {
  int* start = ws.take<int>(nseg + 1);
  int* tile_start = ws.take<int>(nseg + 1);
  segment_table_kernel<<<1, 1024, 0, st>>>(offsets.i32(), nseg, int(T), B, start, tile_start);
  AMAE_CUDA_LAUNCHED();
  return {start, tile_start, nseg};
}

// Blocks along x: an upper bound on the tile count, Σ_s ceil(len_s / B) ≤ floor(T / B) + nseg.
unsigned tile_blocks(int64_t T, int nseg, int B) { return static_cast<unsigned>(T / B + nseg); }

template <int DMAX>
void launch_forward(const Geometry& g, const float* X, float* O, float* LSE, const SegMap& map, unsigned tiles,
                    cudaStream_t st) {
  attention_forward_kernel<DMAX><<<dim3(tiles, unsigned(g.heads)), kAttnThreads, 0, st>>>(
      X, O, LSE, map, int(g.T), int(g.E), int(g.d), g.scale);
  AMAE_CUDA_LAUNCHED();
}

template <int DMAX>
void launch_backward(const Geometry& g, const float* X, const float* DO, const float* LSE, const float* Dv, float* DX,
                     const SegMap& map, unsigned tiles, cudaStream_t st) {
  const dim3 grid(tiles, unsigned(g.heads));
  attention_dkv_kernel<DMAX><<<grid, kAttnThreads, 0, st>>>(X, DO, LSE, Dv, DX, map, int(g.T), int(g.E), int(g.d),
                                                             g.scale);
  AMAE_CUDA_LAUNCHED();
  attention_dq_kernel<DMAX><<<grid, kAttnThreads, 0, st>>>(X, DO, LSE, Dv, DX, map, int(g.T), int(g.E), int(g.d),
                                                            g.scale);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace

void attention_forward(const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse, int heads) {
  const Geometry g = geometry(qkv, heads);
  AMAE_CHECK(out.numel() == g.T * g.E && lse.numel() == g.heads * g.T, "attention_forward: output shapes disagree");
  const int nseg = segment_count(offsets);
  if (g.T == 0) return;  // nothing to compute, nothing to write
  AMAE_CHECK(g.heads <= 65535, "attention (CUDA): at most 65535 heads");
  const int dmax = padded_dim(g.d), B = tile_rows(dmax);
  cudaStream_t st = stream();
  Workspace ws(Workspace::bytes_for({size_t(nseg + 1) * sizeof(int), size_t(nseg + 1) * sizeof(int)}));
  const SegMap map = build_segment_table(ws, offsets, nseg, g.T, B, st);
  const unsigned tiles = tile_blocks(g.T, nseg, B);
  const float* X = qkv.f32();
  float *O = out.f32(), *LSE = lse.f32();
  switch (dmax) {
    case 16: launch_forward<16>(g, X, O, LSE, map, tiles, st); break;
    case 32: launch_forward<32>(g, X, O, LSE, map, tiles, st); break;
    case 64: launch_forward<64>(g, X, O, LSE, map, tiles, st); break;
    default: launch_forward<128>(g, X, O, LSE, map, tiles, st); break;
  }
}

void attention_backward(const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dqkv, int heads) {
  const Geometry g = geometry(qkv, heads);
  AMAE_CHECK(out.numel() == g.T * g.E && lse.numel() == g.heads * g.T && dout.numel() == g.T * g.E &&
                 dqkv.numel() == g.T * 3 * g.E,
             "attention_backward: shapes disagree");
  const int nseg = segment_count(offsets);
  if (g.T == 0) return;
  AMAE_CHECK(g.heads <= 65535, "attention (CUDA): at most 65535 heads");
  const int dmax = padded_dim(g.d), B = tile_rows(dmax);
  cudaStream_t st = stream();
  Workspace ws(Workspace::bytes_for({size_t(nseg + 1) * sizeof(int), size_t(nseg + 1) * sizeof(int),
                                     size_t(g.heads * g.T) * sizeof(float)}));
  const SegMap map = build_segment_table(ws, offsets, nseg, g.T, B, st);
  float* Dv = ws.take<float>(g.heads * g.T);
  attention_rowdot_kernel<<<blocks_for(g.heads * g.T * 32), kThreads, 0, st>>>(out.f32(), dout.f32(), Dv, int(g.T),
                                                                               int(g.E), int(g.heads), int(g.d));
  AMAE_CUDA_LAUNCHED();
  const unsigned tiles = tile_blocks(g.T, nseg, B);
  const float *X = qkv.f32(), *DO = dout.f32(), *LSE = lse.f32();
  float* DX = dqkv.f32();
  switch (dmax) {
    case 16: launch_backward<16>(g, X, DO, LSE, Dv, DX, map, tiles, st); break;
    case 32: launch_backward<32>(g, X, DO, LSE, Dv, DX, map, tiles, st); break;
    case 64: launch_backward<64>(g, X, DO, LSE, Dv, DX, map, tiles, st); break;
    default: launch_backward<128>(g, X, DO, LSE, Dv, DX, map, tiles, st); break;
  }
}

}  // namespace amae::cuda
