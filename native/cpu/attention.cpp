#include "../ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/threads.h"
#include "gemm.h"
#include "reduce.h"
#include "vmath.h"

namespace amae::cpu {

namespace {

// Query rows per tile. A tile's scratch is a few L × kQueryTile score tiles for a segment of L
// tokens, so memory grows linearly with the longest segment instead of quadratically; at 64 the
// backward's two tiles of a 648-token segment (330 KiB) stay in a core's L2.
constexpr int64_t kQueryTile = 64;

int64_t tiles_of(int64_t len) { return (len + kQueryTile - 1) / kQueryTile; }

// Per-thread scratch for score/probability tiles: grows to the largest request a thread has
// seen and is reused after that, so steady-state calls allocate nothing.
float* tile_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// The segment table of one call, on the calling thread (workers reach it through the
// pointers, never through their own thread_local copy).
struct Segments {
  const int64_t* start;       // [nseg + 1] token offsets
  const int64_t* tile_start;  // [nseg + 1] index of each segment's first query tile
  int64_t count;
};

// Widens offsets to int64 and derives each segment's first query tile. The checks guard callers
// inside amae; the binding has already validated what came from JS.
Segments segment_table(const Tensor& offsets, int64_t T) {
  thread_local std::vector<int64_t> buf;
  const int64_t nseg = offsets.numel() - 1;
  AMAE_CHECK(nseg >= 1, "attention: offsets needs at least two entries");
  buf.resize(static_cast<size_t>(2 * (nseg + 1)));
  int64_t* start = buf.data();
  int64_t* tile_start = start + nseg + 1;
  const int32_t* off = offsets.i32();
  start[0] = off[0];
  tile_start[0] = 0;
  AMAE_CHECK(start[0] == 0, "attention: offsets[0] must be 0");
  for (int64_t s = 0; s < nseg; ++s) {
    start[s + 1] = off[s + 1];
    AMAE_CHECK(start[s + 1] >= start[s], "attention: offsets must be non-decreasing");
    tile_start[s + 1] = tile_start[s] + tiles_of(start[s + 1] - start[s]);
  }
  AMAE_CHECK(start[nseg] == T, "attention: offsets must end at T");
  return {start, tile_start, nseg};
}

struct Geometry {
  int64_t T, E, heads, d, ld;  // ld = 3E, the row stride of qkv and dqkv
  float scale;
};

Geometry geometry(const Tensor& qkv, int heads) {
  const int64_t T = qkv.dim(0), E = qkv.dim(1) / 3;
  AMAE_CHECK(qkv.ndim == 2 && qkv.dim(1) == 3 * E && E > 0 && heads > 0 && E % heads == 0,
             "attention: qkv must be [T, 3E] with E divisible by heads");
  const int64_t d = E / heads;
  return {T, E, heads, d, 3 * E, 1.0f / std::sqrt(static_cast<float>(d))};
}

// Every product below runs through sgemm_direct, which reads its operands in place. To make
// that possible the scores are kept transposed, Sᵀ [L, tq] (key j's row holds its score against
// each query of the tile): Sᵀ = K·Qᵀ takes K as it lies in qkv and only the small tq × d query
// tile is transposed, and P·V, Pᵀ·dO, dSᵀ·Q and dS·K read Pᵀ / dSᵀ in one layout or the other.
// The softmax then runs down the columns, vectorised across the tile's queries.

// dst[c·n + i] = src[i·ld + c] for i < n, c < d: a tile's q (or dout) columns, transposed.
void transpose_tile(const float* src, int64_t ld, int64_t n, int64_t d, float* dst) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) dst[c * n + i] = src[i * ld + c];
}

// The element-wise passes over a score tile: exp dominates them, so they take the AVX-512 lanes
// where present (vmath.h). Each runs down the columns of a transposed tile, vectorised across
// the tile's tq queries.

// Column-wise softmax numerators of Sᵀ [L, tq] in place: p = exp(s − m) with m the column's
// maximum (so exp never overflows); m and the column sums come back for the caller to finish.
AMAE_VECTOR_CLONES void softmax_columns(float* Pt, int64_t L, int64_t tq, float* m, float* sum) {
  for (int64_t i = 0; i < tq; ++i) m[i] = Pt[i];
  for (int64_t j = 1; j < L; ++j)
    for (int64_t i = 0; i < tq; ++i) m[i] = Pt[j * tq + i] > m[i] ? Pt[j * tq + i] : m[i];
  for (int64_t i = 0; i < tq; ++i) sum[i] = 0.0f;
  for (int64_t j = 0; j < L; ++j)
    for (int64_t i = 0; i < tq; ++i) {
      const float p = vexp(Pt[j * tq + i] - m[i]);
      Pt[j * tq + i] = p;
      sum[i] += p;
    }
}

// Pᵀ = exp(Sᵀ − lse) in place, lse per column.
AMAE_VECTOR_CLONES void exp_shifted(float* Pt, int64_t L, int64_t tq, const float* lse) {
  for (int64_t j = 0; j < L; ++j)
    for (int64_t i = 0; i < tq; ++i) Pt[j * tq + i] = vexp(Pt[j * tq + i] - lse[i]);
}

// dSᵀ = Pᵀ ⊙ (dPᵀ − D) in place of dPᵀ, D per column.
AMAE_VECTOR_CLONES void softmax_grad(const float* Pt, float* dSt, int64_t L, int64_t tq, const float* D) {
  for (int64_t j = 0; j < L; ++j)
    for (int64_t i = 0; i < tq; ++i) dSt[j * tq + i] = Pt[j * tq + i] * (dSt[j * tq + i] - D[i]);
}

}  // namespace

void attention_forward(const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse, int heads) {
  const Geometry g = geometry(qkv, heads);
  AMAE_CHECK(out.numel() == g.T * g.E && lse.numel() == g.heads * g.T, "attention_forward: output shapes disagree");
  const Segments seg = segment_table(offsets, g.T);
  const float* X = qkv.f32();
  float* O = out.f32();
  float* LSE = lse.f32();

  // One work item per (query tile, head); tiles of all segments are numbered consecutively.
  const int64_t tiles = seg.tile_start[seg.count];
  parallel_for(tiles * g.heads, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t tile = item / g.heads, h = item % g.heads;
      // The segment whose tile range holds `tile`; upper_bound steps over empty segments,
      // whose ranges are empty.
      const int64_t s = std::upper_bound(seg.tile_start, seg.tile_start + seg.count + 1, tile) - seg.tile_start - 1;
      const int64_t a = seg.start[s], L = seg.start[s + 1] - a;
      const int64_t q0 = (tile - seg.tile_start[s]) * kQueryTile;
      const int64_t tq = std::min(kQueryTile, L - q0);
      const float* Q = X + (a + q0) * g.ld + h * g.d;
      const float* K = X + a * g.ld + g.E + h * g.d;
      const float* V = X + a * g.ld + 2 * g.E + h * g.d;
      float* Ot = O + (a + q0) * g.E + h * g.d;

      float* Qt = tile_scratch(static_cast<size_t>(g.d * tq + L * tq));
      float* Pt = Qt + g.d * tq;
      transpose_tile(Q, g.ld, tq, g.d, Qt);
      sgemm_direct(false, L, tq, g.d, g.scale, K, g.ld, Qt, tq, 0.0f, Pt, tq);  // Sᵀ = K·Qᵀ·scale
      // Softmax of each column; the 1/sum is applied to the tile's output rows instead of to all
      // L × tq probabilities.
      float m[kQueryTile], sum[kQueryTile];
      softmax_columns(Pt, L, tq, m, sum);
      sgemm_direct(true, tq, g.d, L, 1.0f, Pt, tq, V, g.ld, 0.0f, Ot, g.E);  // O = P·V, unnormalised
      for (int64_t i = 0; i < tq; ++i) {
        const float inv = 1.0f / sum[i];
        for (int64_t c = 0; c < g.d; ++c) Ot[i * g.E + c] *= inv;
        LSE[h * g.T + a + q0 + i] = m[i] + std::log(sum[i]);
      }
    }
  });
}

void attention_backward(const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dqkv, int heads) {
  const Geometry g = geometry(qkv, heads);
  AMAE_CHECK(out.numel() == g.T * g.E && lse.numel() == g.heads * g.T && dout.numel() == g.T * g.E &&
                 dqkv.numel() == g.T * g.ld,
             "attention_backward: shapes disagree");
  const Segments seg = segment_table(offsets, g.T);
  const float* X = qkv.f32();
  const float* O = out.f32();
  const float* LSE = lse.f32();
  const float* DO = dout.f32();
  float* DX = dqkv.f32();

  // One work item per (segment, head). dK and dV sum over every query tile of the segment; the
  // item walks its tiles in order and accumulates straight into dqkv, so each gradient element
  // is summed in one fixed order whatever the thread count, and no per-tile partials are kept.
  parallel_for(seg.count * g.heads, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t s = item / g.heads, h = item % g.heads;
      const int64_t a = seg.start[s], L = seg.start[s + 1] - a;
      if (L == 0) continue;
      const int64_t tq_max = std::min(kQueryTile, L);
      float* Qt = tile_scratch(static_cast<size_t>(2 * g.d * tq_max + 2 * L * tq_max));
      float* dOt = Qt + g.d * tq_max;
      float* Pt = dOt + g.d * tq_max;
      float* dSt = Pt + L * tq_max;
      const float* K = X + a * g.ld + g.E + h * g.d;
      const float* V = X + a * g.ld + 2 * g.E + h * g.d;
      float* dK = DX + a * g.ld + g.E + h * g.d;
      float* dV = DX + a * g.ld + 2 * g.E + h * g.d;

      for (int64_t q0 = 0; q0 < L; q0 += kQueryTile) {
        const int64_t tq = std::min(kQueryTile, L - q0);
        const float* Q = X + (a + q0) * g.ld + h * g.d;
        const float* Ot = O + (a + q0) * g.E + h * g.d;
        const float* dO = DO + (a + q0) * g.E + h * g.d;
        float* dQ = DX + (a + q0) * g.ld + h * g.d;
        const float* l = LSE + h * g.T + a + q0;

        // Pᵀ = exp(Sᵀ − lse): the forward's probabilities, recomputed from the saved lse.
        transpose_tile(Q, g.ld, tq, g.d, Qt);
        sgemm_direct(false, L, tq, g.d, g.scale, K, g.ld, Qt, tq, 0.0f, Pt, tq);
        exp_shifted(Pt, L, tq, l);
        // Σ_j P_ij dP_ij = dO_i · O_i (as O_i = Σ_j P_ij V_j): the softmax Jacobian's
        // correction term from d values instead of L.
        float D[kQueryTile];
        for (int64_t i = 0; i < tq; ++i)
          D[i] = lane_sum(g.d, [&](int64_t c) { return dO[i * g.E + c] * Ot[i * g.E + c]; });
        // dPᵀ = V·dOᵀ, then dSᵀ = Pᵀ ⊙ (dPᵀ − D) in place.
        transpose_tile(dO, g.E, tq, g.d, dOt);
        sgemm_direct(false, L, tq, g.d, 1.0f, V, g.ld, dOt, tq, 0.0f, dSt, tq);
        softmax_grad(Pt, dSt, L, tq, D);
        sgemm_direct(false, L, g.d, tq, 1.0f, Pt, tq, dO, g.E, 1.0f, dV, g.ld);       // dV += Pᵀ·dO
        sgemm_direct(false, L, g.d, tq, g.scale, dSt, tq, Q, g.ld, 1.0f, dK, g.ld);  // dK += dSᵀ·Q·scale
        sgemm_direct(true, tq, g.d, L, g.scale, dSt, tq, K, g.ld, 1.0f, dQ, g.ld);   // dQ += dS·K·scale
      }
    }
  });
}

}  // namespace amae::cpu
