#include "../ops/sequence.h"

#include <algorithm>
#include <cstring>

#include "../core/threads.h"

namespace amae::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off
constexpr int64_t kCols = 32;      // columns per scatter task: two cache lines of each row

int64_t per_task(int64_t work_per_item) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, work_per_item)); }

// dst[index[t]] += src[t] for rows of `width` floats. Several tokens may name one row, so tasks
// own column blocks rather than tokens: no two tasks write the same element, and every element
// adds its tokens in ascending t, which makes the sum independent of the thread count.
void scatter_add_rows(const int32_t* index, int64_t tokens, const float* src, float* dst, int64_t width) {
  const int64_t blocks = (width + kCols - 1) / kCols;
  parallel_for(blocks, per_task(tokens * kCols), [&](int64_t b, int64_t e) {
    const int64_t c0 = b * kCols, c1 = std::min(width, e * kCols);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* s = src + t * width;
      float* d = dst + index[t] * width;
      for (int64_t c = c0; c < c1; ++c) d[c] += s[c];
    }
  });
}
}  // namespace

void concat_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  const int64_t ca = a.dim(1), cb = b.dim(1), c = ca + cb, v = y.stride(1);
  if (v == 0) return;  // nothing to copy, and memcpy must not see the null data of empty arrays
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* out = y.f32();
  parallel_for(y.dim(0) * c, per_task(v), [&](int64_t beg, int64_t end) {
    for (int64_t row = beg; row < end; ++row) {
      const int64_t n = row / c, ch = row % c;
      const float* src = ch < ca ? pa + (n * ca + ch) * v : pb + (n * cb + ch - ca) * v;
      std::memcpy(out + row * v, src, sizeof(float) * v);
    }
  });
}

void concat_backward(const Tensor& dy, const Tensor& da, const Tensor& db) {
  if (!da.data && !db.data) return;
  const int64_t c = dy.dim(1), ca = da.data ? da.dim(1) : c - db.dim(1), cb = c - ca, v = dy.stride(1);
  const float* g = dy.f32();
  float* pa = da.data ? da.f32() : nullptr;
  float* pb = db.data ? db.f32() : nullptr;
  parallel_for(dy.dim(0) * c, per_task(v), [&](int64_t beg, int64_t end) {
    for (int64_t row = beg; row < end; ++row) {
      const int64_t n = row / c, ch = row % c;
      float* dst = ch < ca ? (pa ? pa + (n * ca + ch) * v : nullptr) : (pb ? pb + (n * cb + ch - ca) * v : nullptr);
      if (!dst) continue;
      const float* src = g + row * v;
      for (int64_t i = 0; i < v; ++i) dst[i] += src[i];
    }
  });
}

void embed_add_forward(const Tensor& x, const Tensor& pos, const Tensor& mod, const Tensor& pos_index,
                       const Tensor& mod_index, const Tensor& y) {
  const int64_t e_n = x.dim(1);
  const float* px = x.f32();
  const float* pp = pos.f32();
  const float* pm = mod.f32();
  const int32_t* pi = pos_index.i32();
  const int32_t* mi = mod_index.i32();
  float* out = y.f32();
  parallel_for(x.dim(0), per_task(e_n), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* xt = px + t * e_n;
      const float* pt = pp + pi[t] * e_n;
      const float* mt = pm + mi[t] * e_n;
      float* yt = out + t * e_n;
      for (int64_t c = 0; c < e_n; ++c) yt[c] = (xt[c] + pt[c]) + mt[c];
    }
  });
}

void embed_add_backward(const Tensor& pos_index, const Tensor& mod_index, const Tensor& dy, const Tensor& dx,
                        const Tensor& dpos, const Tensor& dmod) {
  const int64_t tokens = dy.dim(0), e_n = dy.dim(1);
  const float* g = dy.f32();
  if (dx.data) {
    float* d = dx.f32();
    parallel_for(tokens * e_n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] += g[i];
    });
  }
  if (dpos.data) scatter_add_rows(pos_index.i32(), tokens, g, dpos.f32(), e_n);
  if (dmod.data) scatter_add_rows(mod_index.i32(), tokens, g, dmod.f32(), e_n);
}

void gather_rows_forward(const Tensor& x, const Tensor& index, const Tensor& y) {
  const int64_t width = x.stride(0);
  if (width == 0) return;  // nothing to copy, and memcpy must not see the null data of empty arrays
  const float* in = x.f32();
  const int32_t* idx = index.i32();
  float* out = y.f32();
  parallel_for(y.dim(0), per_task(width), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) std::memcpy(out + t * width, in + idx[t] * width, sizeof(float) * width);
  });
}

void gather_rows_backward(const Tensor& index, const Tensor& dy, const Tensor& dx) {
  scatter_add_rows(index.i32(), dy.dim(0), dy.f32(), dx.f32(), dx.stride(0));
}

// A blocked transpose of each sample's [P, E] token matrix: tiles of kTile × kTile keep both the
// rows read and the rows written in cache. Every output element has one writer.
namespace {
constexpr int64_t kTile = 32;
// dst[n][c][r] (+)= src[n][r][c] for src [N, R, C].
template <bool Add>
void transpose_samples(const float* src, float* dst, int64_t N, int64_t R, int64_t C) {
  const int64_t tr = (R + kTile - 1) / kTile, tc = (C + kTile - 1) / kTile;
  parallel_for(N * tr * tc, per_task(kTile * kTile), [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      const int64_t n = job / (tr * tc), r0 = job / tc % tr * kTile, c0 = job % tc * kTile;
      const float* s = src + n * R * C;
      float* d = dst + n * R * C;
      const int64_t r1 = std::min(R, r0 + kTile), c1 = std::min(C, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) {
          if constexpr (Add)
            d[c * R + r] += s[r * C + c];
          else
            d[c * R + r] = s[r * C + c];
        }
    }
  });
}
}  // namespace

void tokens_to_volume_forward(const Tensor& x, const Tensor& y) {
  if (x.numel() == 0) return;
  transpose_samples<false>(x.f32(), y.f32(), x.dim(0), x.dim(1), x.dim(2));
}

void tokens_to_volume_backward(const Tensor& dy, const Tensor& dx) {
  if (dx.numel() == 0) return;
  // dy [N, E, P] read as rows of E; dx [N, P, E].
  transpose_samples<true>(dy.f32(), dx.f32(), dx.dim(0), dx.dim(2), dx.dim(1));
}

}  // namespace amae::cpu
