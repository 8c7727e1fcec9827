// Patch embedding (and the DCT's per-sample scales) as GEMMs over extracted patches.
// The volume form runs samples one after another, each using every thread (extraction, GEMM,
// epilogue): the weight gradient accumulates sample by sample in a fixed order and is
// deterministic without partial sums, and the patch buffer is one sample's size however large
// the batch. The rows form takes patches a caller already extracted (and chose) and embeds them
// all in one GEMM, each segment of rows with its own scales.
#include "../ops/patch_embed.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../core/threads.h"
#include "gemm.h"

namespace amae::cpu {
namespace {

constexpr int64_t kPatchGrain = 4;  // patches per task: a 16³ patch is 16 KiB of copying
constexpr int64_t kRowGrain = 64;   // token rows per task in the element-wise epilogues
constexpr int64_t kEmbedGrain = 64; // embedding channels per task in the per-channel sums

// Scratch of the calling thread, grown once to its high-water mark; one vector per role.
thread_local std::vector<float> tl_patches;  // one sample's patches [P, C·p³] (or their gradient)
thread_local std::vector<float> tl_tokens;   // [P, E]: the unscaled conv output, for dsw
thread_local std::vector<float> tl_scaled;   // [T, E]: dy·sw
thread_local std::vector<float> tl_affine;   // [segments, 2E]: each segment's scale and shift

float* grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

struct Grid {
  int64_t C, H, W, D, p;
  Grid(const Tensor& x, int64_t patch) : C(x.dim(1)), H(x.dim(2)), W(x.dim(3)), D(x.dim(4)), p(patch) {}
  int64_t gw() const { return W / p; }
  int64_t gd() const { return D / p; }
  int64_t P() const { return (H / p) * gw() * gd(); }
  int64_t K() const { return C * p * p * p; }  // one flattened patch: (c, ph, pw, pd)
  int64_t hwd() const { return H * W * D; }
  // Offset in one channel of the first voxel of patch q's row (ph, pw).
  int64_t row(int64_t q, int64_t ph, int64_t pw) const {
    const int64_t gh = q / (gw() * gd()), gwi = (q / gd()) % gw(), gdi = q % gd();
    return ((gh * p + ph) * W + gwi * p + pw) * D + gdi * p;
  }
};

// Visits every p-long row of every patch of `samples` samples: fn(offset in x, offset in the
// patch matrix [samples·P, K]). Rows are disjoint, so the patches split freely across threads.
template <class Fn>
void for_patch_rows(const Grid& g, int64_t samples, Fn fn) {
  const int64_t P = g.P(), K = g.K();
  parallel_for(samples * P, kPatchGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / P, q = r % P;
      int64_t at = r * K;
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t ph = 0; ph < g.p; ++ph)
          for (int64_t pw = 0; pw < g.p; ++pw, at += g.p) fn((n * g.C + c) * g.hwd() + g.row(q, ph, pw), at);
    }
  });
}

void extract(const Grid& g, int64_t samples, const float* x, float* patches) {
  const size_t bytes = static_cast<size_t>(g.p) * sizeof(float);
  for_patch_rows(g, samples, [&](int64_t src, int64_t dst) { std::memcpy(patches + dst, x + src, bytes); });
}

void scatter_add(const Grid& g, int64_t samples, const float* patches, float* dx) {
  for_patch_rows(g, samples, [&](int64_t dst, int64_t src) {
    for (int64_t i = 0; i < g.p; ++i) dx[dst + i] += patches[src + i];
  });
}

// The DCT's factors of segment s (pointers already at the first segment of the call): scale
// sw[s] (ones when absent) and shift sb[s]·b (b zero when absent, sb ones).
struct Scales {
  int64_t E;
  const float *b, *sw, *sb;
  bool any() const { return sw || b; }
  float scale(int64_t s, int64_t e) const { return sw ? sw[s * E + e] : 1.0f; }
  float shift(int64_t s, int64_t e) const { return b ? b[e] * (sb ? sb[s * E + e] : 1.0f) : 0.0f; }
};

Scales scales_of(const Tensor& b, const Tensor& sw, const Tensor& sb, int64_t E, int64_t first = 0) {
  return {E, b.data ? b.f32() : nullptr, sw.data ? sw.f32() + first * E : nullptr,
          sb.data ? sb.f32() + first * E : nullptr};
}

// Segment s of a call owns rows off[s] .. off[s+1] − 1 (off non-decreasing, nseg segments).
struct Segments {
  const int32_t* off;
  int64_t count;
  int64_t rows() const { return off[count]; }
  // The segment holding row r (upper_bound steps over empty segments, whose ranges are empty).
  int64_t of(int64_t r) const { return std::upper_bound(off, off + count + 1, r) - off - 1; }
};

// y[t] = scale_s ⊙ src[t] + shift_s for every row t of segment s; src may be y.
void affine_rows(const float* src, float* y, const Segments& seg, const Scales& sc) {
  const int64_t E = sc.E;
  float* table = grow(tl_affine, seg.count * 2 * E);  // the workers read this thread's table
  for (int64_t s = 0; s < seg.count; ++s)
    for (int64_t e = 0; e < E; ++e) {
      table[s * 2 * E + e] = sc.scale(s, e);
      table[s * 2 * E + E + e] = sc.shift(s, e);
    }
  parallel_for(seg.rows(), kRowGrain, [&](int64_t r0, int64_t r1) {
    int64_t s = seg.of(r0);
    for (int64_t r = r0; r < r1; ++r) {
      while (r >= seg.off[s + 1]) ++s;
      const float* scale = table + s * 2 * E;
      const float* shift = scale + E;
      for (int64_t e = 0; e < E; ++e) y[r * E + e] = scale[e] * src[r * E + e] + shift[e];
    }
  });
}

// Per segment s and channel e, with S = Σ_{t ∈ s} dy[t, e]: dsw[s, e] += Σ_{t ∈ s} dy·z,
// dsb[s, e] += b[e]·S and db[e] += Σ_s sb[s, e]·S (segments ascending, rows ascending within a
// segment, so the sums are fixed whatever the thread count). Absent outputs are skipped.
void channel_sums(const float* dy, const float* z, const Segments& seg, const Scales& sc, float* dsw, float* dsb,
                  float* db) {
  const int64_t E = sc.E;
  const bool bias = sc.b && (dsb || db);
  if (!bias && !dsw) return;
  parallel_for(E, kEmbedGrain, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e)
      for (int64_t s = 0; s < seg.count; ++s) {
        float sum = 0.0f, st = 0.0f;
        for (int64_t t = seg.off[s]; t < seg.off[s + 1]; ++t) {
          sum += dy[t * E + e];
          if (dsw) st += dy[t * E + e] * z[t * E + e];
        }
        if (dsw) dsw[s * E + e] += st;
        if (!bias) continue;
        if (dsb) dsb[s * E + e] += sc.b[e] * sum;
        if (db) db[e] += (sc.sb ? sc.sb[s * E + e] : 1.0f) * sum;
      }
  });
}

// The conv's own output gradient: dy ⊙ sw per segment into the thread's scratch, or dy itself
// without scales.
const float* conv_grad(const float* dy, const Segments& seg, const Scales& sc) {
  if (!sc.sw) return dy;
  float* scaled = grow(tl_scaled, seg.rows() * sc.E);
  affine_rows(dy, scaled, seg, Scales{sc.E, nullptr, sc.sw, nullptr});
  return scaled;
}

}  // namespace

void patch_embed_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                         const Tensor& y, int64_t p) {
  const Grid g(x, p);
  const int64_t P = g.P(), K = g.K(), E = w.dim(0);
  float* patches = grow(tl_patches, P * K);
  const int32_t one_sample[2] = {0, static_cast<int32_t>(P)};
  for (int64_t n = 0; n < x.dim(0); ++n) {
    float* yn = y.f32() + n * P * E;
    extract(g, 1, x.f32() + n * g.C * g.hwd(), patches);
    sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, yn, E);
    const Scales sc = scales_of(b, sw, sb, E, n);
    if (sc.any()) affine_rows(yn, yn, Segments{one_sample, 1}, sc);
  }
}

void patch_embed_backward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                          const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dsw,
                          const Tensor& dsb, int64_t p) {
  const Grid g(x, p);
  const int64_t P = g.P(), K = g.K(), E = w.dim(0);
  const bool need_patches = dw.data || dsw.data;
  float* patches = grow(tl_patches, P * K);
  float* tokens = dsw.data ? grow(tl_tokens, P * E) : nullptr;
  const int32_t one_sample[2] = {0, static_cast<int32_t>(P)};
  const Segments seg{one_sample, 1};
  for (int64_t n = 0; n < x.dim(0); ++n) {
    const float* gy = dy.f32() + n * P * E;
    const Scales sc = scales_of(b, sw, sb, E, n);
    if (need_patches) extract(g, 1, x.f32() + n * g.C * g.hwd(), patches);
    // The volume form keeps nothing from its forward: dsw's unscaled tokens are recomputed.
    if (tokens) sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, tokens, E);
    channel_sums(gy, tokens, seg, sc, dsw.data ? dsw.f32() + n * E : nullptr,
                 dsb.data ? dsb.f32() + n * E : nullptr, db.data ? db.f32() : nullptr);
    if (!dw.data && !dx.data) continue;
    const float* gc = conv_grad(gy, seg, sc);
    if (dw.data) sgemm(true, false, E, K, P, 1.0f, gc, E, patches, K, 1.0f, dw.f32(), K);
    if (dx.data) {
      // The patches are no longer needed: their buffer takes their gradient.
      sgemm(false, false, P, K, E, 1.0f, gc, E, w.f32(), K, 0.0f, patches, K);
      scatter_add(g, 1, patches, dx.f32() + n * g.C * g.hwd());
    }
  }
}

void patchify_forward(const Tensor& x, const Tensor& patches, int64_t p) {
  extract(Grid(x, p), x.dim(0), x.f32(), patches.f32());
}

void patchify_backward(const Tensor& dpatches, const Tensor& dx, int64_t p) {
  scatter_add(Grid(dx, p), dx.dim(0), dpatches.f32(), dx.f32());
}

void patch_embed_rows_forward(const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b,
                              const Tensor& sw, const Tensor& sb, const Tensor& z, const Tensor& y) {
  const int64_t T = patches.dim(0), K = patches.dim(1), E = w.dim(0);
  AMAE_CHECK(w.numel() == E * K && y.numel() == T * E && (!z.data || z.numel() == T * E),
             "patch_embed_rows_forward: shapes disagree");
  const Segments seg{offsets.i32(), offsets.numel() - 1};
  AMAE_CHECK(seg.rows() == T, "patch_embed_rows_forward: offsets must end at the row count");
  float* out = z.data ? z.f32() : y.f32();
  sgemm(false, true, T, E, K, 1.0f, patches.f32(), K, w.f32(), K, 0.0f, out, E);
  const Scales sc = scales_of(b, sw, sb, E);
  if (sc.any() || z.data) affine_rows(out, y.f32(), seg, sc);
}

void patch_embed_rows_backward(const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b,
                               const Tensor& sw, const Tensor& sb, const Tensor& z, const Tensor& dy,
                               const Tensor& dpatches, const Tensor& dw, const Tensor& db, const Tensor& dsw,
                               const Tensor& dsb) {
  const int64_t T = patches.dim(0), K = patches.dim(1), E = w.dim(0);
  AMAE_CHECK(!dsw.data || z.data, "patch_embed_rows_backward: dsw needs the forward's z");
  const Segments seg{offsets.i32(), offsets.numel() - 1};
  const Scales sc = scales_of(b, sw, sb, E);
  channel_sums(dy.f32(), z.data ? z.f32() : nullptr, seg, sc, dsw.data ? dsw.f32() : nullptr,
               dsb.data ? dsb.f32() : nullptr, db.data ? db.f32() : nullptr);
  if (!dw.data && !dpatches.data) return;
  const float* gc = conv_grad(dy.f32(), seg, sc);
  if (dw.data) sgemm(true, false, E, K, T, 1.0f, gc, E, patches.f32(), K, 1.0f, dw.f32(), K);
  if (dpatches.data) sgemm(false, false, T, K, E, 1.0f, gc, E, w.f32(), K, 1.0f, dpatches.f32(), K);
}

}  // namespace amae::cpu
