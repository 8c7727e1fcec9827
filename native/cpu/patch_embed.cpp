// Patch embedding (and the DCT's per-sample scales) as one GEMM per sample over its extracted
// patches. Samples run one after another, each using every thread (extraction, GEMM, epilogue);
// the weight gradient therefore accumulates sample by sample in a fixed order and is deterministic
// without partial sums, and the patch buffer is one sample's size however large the batch.
#include "../ops/patch_embed.h"

#include <cstring>
#include <vector>

#include "../core/threads.h"
#include "gemm.h"

namespace amae::cpu {
namespace {

constexpr int64_t kPatchGrain = 4;  // patches per task: a 16³ patch is 16 KiB of copying
constexpr int64_t kEmbedGrain = 64; // embedding channels per task in the per-channel sums

// Scratch of the calling thread, grown once to its high-water mark; one vector per role.
thread_local std::vector<float> tl_patches;  // one sample's patches [P, C·p³] (or their gradient)
thread_local std::vector<float> tl_tokens;   // [P, E]: the unscaled conv output, for dsw
thread_local std::vector<float> tl_scaled;   // [P, E]: dy·sw
thread_local std::vector<float> tl_affine;   // [2E]: a sample's scale and shift

float* grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

struct Grid {
  int64_t N, C, H, W, D, p, E;
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

Grid grid_of(const Tensor& x, const Tensor& w, int64_t p) {
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), x.dim(4), p, w.dim(0)};
}

// Visits every p-long row of every patch of one sample: fn(row of the sample, row of the patch
// matrix [P, K]). Rows are disjoint, so the patches split freely across threads.
template <class Fn>
void for_patch_rows(const Grid& g, Fn fn) {
  parallel_for(g.P(), kPatchGrain, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      int64_t at = q * g.K();
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t ph = 0; ph < g.p; ++ph)
          for (int64_t pw = 0; pw < g.p; ++pw, at += g.p) fn(c * g.hwd() + g.row(q, ph, pw), at);
    }
  });
}

void extract(const Grid& g, const float* x, float* patches) {
  const size_t bytes = static_cast<size_t>(g.p) * sizeof(float);
  for_patch_rows(g, [&](int64_t src, int64_t dst) { std::memcpy(patches + dst, x + src, bytes); });
}

void scatter_add(const Grid& g, const float* patches, float* dx) {
  for_patch_rows(g, [&](int64_t dst, int64_t src) {
    for (int64_t i = 0; i < g.p; ++i) dx[dst + i] += patches[src + i];
  });
}

}  // namespace

void patch_embed_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                         const Tensor& y, int64_t p) {
  const Grid g = grid_of(x, w, p);
  const int64_t P = g.P(), K = g.K(), E = g.E;
  float* patches = grow(tl_patches, P * K);
  float* affine = grow(tl_affine, 2 * E);
  const bool epilogue = sw.data || b.data;
  for (int64_t n = 0; n < g.N; ++n) {
    float* yn = y.f32() + n * P * E;
    extract(g, x.f32() + n * g.C * g.hwd(), patches);
    sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, yn, E);
    if (!epilogue) continue;
    // y = scale·y + shift with scale = sw[n] (or 1), shift = sb[n]·b (sb or 1, b or 0).
    float *scale = affine, *shift = affine + E;
    for (int64_t e = 0; e < E; ++e) {
      scale[e] = sw.data ? sw.f32()[n * E + e] : 1.0f;
      shift[e] = b.data ? b.f32()[e] * (sb.data ? sb.f32()[n * E + e] : 1.0f) : 0.0f;
    }
    parallel_for(P, kPatchGrain, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q)
        for (int64_t e = 0; e < E; ++e) yn[q * E + e] = scale[e] * yn[q * E + e] + shift[e];
    });
  }
}

void patch_embed_backward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                          const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dsw,
                          const Tensor& dsb, int64_t p) {
  const Grid g = grid_of(x, w, p);
  const int64_t P = g.P(), K = g.K(), E = g.E;
  // dy of the bias term: sb[n,e]·b[e] gets Σ_q dy[n,q,e], which db and dsb share.
  const bool bias_grads = (db.data || dsb.data) && b.data;
  const bool need_patches = dw.data || dsw.data;
  float* patches = grow(tl_patches, P * K);
  float* tokens = dsw.data ? grow(tl_tokens, P * E) : nullptr;
  float* scaled = sw.data && (dw.data || dx.data) ? grow(tl_scaled, P * E) : nullptr;
  for (int64_t n = 0; n < g.N; ++n) {
    const float* gy = dy.f32() + n * P * E;
    const float* swn = sw.data ? sw.f32() + n * E : nullptr;
    if (need_patches) extract(g, x.f32() + n * g.C * g.hwd(), patches);
    if (tokens) sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, tokens, E);
    if (bias_grads || tokens) {
      // Per-channel sums over the sample's tokens, each channel summed q-ascending.
      parallel_for(E, kEmbedGrain, [&](int64_t e0, int64_t e1) {
        for (int64_t e = e0; e < e1; ++e) {
          float s = 0.0f, st = 0.0f;
          for (int64_t q = 0; q < P; ++q) {
            s += gy[q * E + e];
            if (tokens) st += gy[q * E + e] * tokens[q * E + e];
          }
          if (tokens) dsw.f32()[n * E + e] += st;
          if (!bias_grads) continue;
          if (dsb.data) dsb.f32()[n * E + e] += b.f32()[e] * s;
          if (db.data) db.f32()[e] += (sb.data ? sb.f32()[n * E + e] : 1.0f) * s;
        }
      });
    }
    if (!dw.data && !dx.data) continue;
    // The conv's own output gradient: dy scaled by sw (dy itself without sw).
    const float* gc = gy;
    if (scaled) {
      parallel_for(P, kPatchGrain, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q)
          for (int64_t e = 0; e < E; ++e) scaled[q * E + e] = gy[q * E + e] * swn[e];
      });
      gc = scaled;
    }
    if (dw.data) sgemm(true, false, E, K, P, 1.0f, gc, E, patches, K, 1.0f, dw.f32(), K);
    if (dx.data) {
      // The patches are no longer needed: their buffer takes their gradient.
      sgemm(false, false, P, K, E, 1.0f, gc, E, w.f32(), K, 0.0f, patches, K);
      scatter_add(g, patches, dx.f32() + n * g.C * g.hwd());
    }
  }
}

}  // namespace amae::cpu
