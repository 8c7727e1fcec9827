// Conv3d (k = 1 or 3, "same" padding) and ConvTranspose3d (k = s = 2) as GEMMs through cpu::sgemm.
//
// Work is cut into tasks of whole (h, w) rows of one sample, so every task owns a disjoint slab of
// the output and the column buffer it fills stays bounded (about kColFloats) whatever the volume.
// Forward and input-gradient tasks are independent; the weight gradient sums over all tasks, so it
// is reduced through a fixed number of partial sums (fixed by the shapes, never by the thread
// count) added in a fixed order, which keeps every result bit-identical across runs and machines.
#include "../ops/conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../core/threads.h"
#include "gemm.h"

namespace amae::cpu {
namespace {

// Floats in one task's column block (512 KiB): it stays in L2 beside the GEMM's packed panels,
// and a 48³ volume still splits into hundreds of tasks.
constexpr int64_t kColFloats = int64_t(1) << 17;
// Most weight-gradient partials held at once (64 MiB); wide layers (few voxels, many channels) get
// fewer partials, which costs nothing there because they have few tasks anyway.
constexpr int64_t kPartialFloats = int64_t(1) << 24;
constexpr int64_t kMaxPartials = 32;
constexpr int64_t kReduceGrain = 4096;

// Scratch that grows to its high-water mark once per thread and is then reused by every call.
// One vector per role, because a thread that fills one (the caller) also runs tasks using another.
thread_local std::vector<float> tl_columns;  // a task's column block (any thread)
thread_local std::vector<float> tl_weights;  // the flipped weight of the input gradient (caller)
thread_local std::vector<float> tl_partials; // weight-gradient partial sums (caller)

float* grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Σ p[0..n) with 16 independent lanes, which the compiler vectorises; a fixed order, so deterministic.
float sum(const float* p, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
  float s = 0.0f;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) s += p[i];
  return s;
}

// db[o] += Σ_n Σ_v dy[n, o, v] over `per_channel` voxels.
void channel_sums(const float* dy, int64_t N, int64_t C, int64_t per_channel, float* db) {
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float s = 0.0f;
      for (int64_t n = 0; n < N; ++n) s += sum(dy + (n * C + c) * per_channel, per_channel);
      db[c] += s;
    }
  });
}

// Tasks: chunks of `rows_per_task` (h, w) rows of one sample, numbered n·chunks + chunk.
struct Tasks {
  int64_t rows, rows_per_task, chunks;
  Tasks(int64_t rows_, int64_t floats_per_row) : rows(rows_) {
    rows_per_task = std::clamp<int64_t>(kColFloats / std::max<int64_t>(1, floats_per_row), 1, rows);
    chunks = (rows + rows_per_task - 1) / rows_per_task;
  }
  int64_t first_row(int64_t t) const { return (t % chunks) * rows_per_task; }
  int64_t end_row(int64_t t) const { return std::min(rows, first_row(t) + rows_per_task); }
};

// How many weight-gradient partials `tasks` tasks reduce through: enough to keep every thread
// busy, few enough to bound the memory. Depends on shapes only, so the sum order is fixed.
int64_t partial_count(int64_t tasks, int64_t partial_size) {
  return std::clamp<int64_t>(std::min(kMaxPartials, kPartialFloats / partial_size), 1, tasks);
}

// out[i] += Σ_g partials[g][i], g ascending.
void reduce_partials(const float* partials, int64_t count, int64_t size, float* out) {
  parallel_for(size, kReduceGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float s = partials[i];
      for (int64_t g = 1; g < count; ++g) s += partials[g * size + i];
      out[i] += s;
    }
  });
}

// A stride-1 correlation with zero padding k/2 over one family of volumes [N, C, H, W, D].
struct SameConv {
  int64_t N, Ci, Co, H, W, D, k;
  int64_t hwd() const { return H * W * D; }
  int64_t taps() const { return k * k * k; }
  int64_t K() const { return Ci * taps(); }  // the GEMM's inner dimension: (ci, dh, dw, dd)
  Tasks tasks() const { return Tasks(H * W, K() * D); }
};

// The column block of rows [r0, r1) of one sample `src` [C, H, W, D]: row (c, dh, dw, dd) of
// `col` holds, for each output voxel (h, w, d) of the block, src[c, h+dh-pad, w+dw-pad, d+dd-pad]
// or 0 outside the volume. Each (h, w) row is a shifted copy of one input row along D.
void im2col(const SameConv& g, int64_t C, const float* src, int64_t r0, int64_t r1, float* col) {
  const int64_t pad = g.k / 2, D = g.D, len = (r1 - r0) * D;
  float* dst = col;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t dh = 0; dh < g.k; ++dh)
      for (int64_t dw = 0; dw < g.k; ++dw)
        for (int64_t dd = 0; dd < g.k; ++dd, dst += len) {
          const int64_t s = dd - pad;
          // d in [lo, hi) reads inside the row; the rest is padding.
          const int64_t lo = std::min(D, std::max<int64_t>(0, -s)), hi = std::max(lo, std::min(D, D - s));
          for (int64_t r = r0; r < r1; ++r) {
            float* o = dst + (r - r0) * D;
            const int64_t hh = r / g.W + dh - pad, ww = r % g.W + dw - pad;
            if (hh < 0 || hh >= g.H || ww < 0 || ww >= g.W) {
              std::fill(o, o + D, 0.0f);
              continue;
            }
            const float* in = src + c * g.hwd() + (hh * g.W + ww) * D;
            std::fill(o, o + lo, 0.0f);
            std::memcpy(o + lo, in + lo + s, static_cast<size_t>(hi - lo) * sizeof(float));
            std::fill(o + hi, o + D, 0.0f);
          }
        }
}

// The GEMM's B operand [K, len] for rows [r0, r1) of sample `src`: for k = 1 the input itself
// (row stride H·W·D, no copy), otherwise its column block in this thread's scratch.
const float* columns(const SameConv& g, int64_t C, const float* src, int64_t r0, int64_t r1, int64_t* ldb) {
  if (g.k == 1) {
    *ldb = g.hwd();
    return src + r0 * g.D;
  }
  const int64_t len = (r1 - r0) * g.D;
  float* col = grow(tl_columns, C * g.taps() * len);
  im2col(g, C, src, r0, r1, col);
  *ldb = len;
  return col;
}

// dst[n] (+)= wmat · columns(src[n]) (+ bias): wmat is [Co, Ci·k³]; `accumulate` adds into dst.
void same_conv(const SameConv& g, const float* src, const float* wmat, const float* bias, float* dst, bool accumulate) {
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), K = g.K();
  parallel_for(g.N * tasks.chunks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * g.D;
      int64_t ldb;
      const float* B = columns(g, g.Ci, src + n * g.Ci * hwd, r0, r1, &ldb);
      float* C = dst + n * g.Co * hwd + r0 * g.D;
      float beta = accumulate ? 1.0f : 0.0f;
      if (bias) {
        for (int64_t o = 0; o < g.Co; ++o) std::fill(C + o * hwd, C + o * hwd + len, bias[o]);
        beta = 1.0f;
      }
      sgemm(false, false, g.Co, len, K, 1.0f, wmat, K, B, ldb, beta, C, hwd);
    }
  });
}

// dw[Co, Ci·k³] += Σ_n Σ_v dy[n, :, v] · columns(x[n])[:, v]ᵀ.
void same_conv_dw(const SameConv& g, const float* x, const float* dy, float* dw) {
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), K = g.K(), size = g.Co * K, count = g.N * tasks.chunks;
  const int64_t parts = partial_count(count, size);
  float* partials = grow(tl_partials, parts * size);
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t first = p * count / parts, last = (p + 1) * count / parts;
      for (int64_t t = first; t < last; ++t) {
        const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * g.D;
        int64_t ldb;
        const float* B = columns(g, g.Ci, x + n * g.Ci * hwd, r0, r1, &ldb);
        sgemm(false, true, g.Co, K, len, 1.0f, dy + n * g.Co * hwd + r0 * g.D, hwd, B, ldb, t == first ? 0.0f : 1.0f,
              partials + p * size, K);
      }
    }
  });
  reduce_partials(partials, parts, size, dw);
}

SameConv conv_geometry(const Tensor& x, const Tensor& w) {
  return {x.dim(0), x.dim(1), w.dim(0), x.dim(2), x.dim(3), x.dim(4), w.dim(2)};
}

}  // namespace

void conv3d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const SameConv g = conv_geometry(x, w);
  same_conv(g, x.f32(), w.f32(), b.data ? b.f32() : nullptr, y.f32(), false);
}

void conv3d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw,
                     const Tensor& db) {
  const SameConv g = conv_geometry(x, w);
  if (dx.data) {
    // dx[i] = Σ_o w[o, i] ⋆ dy[o] with the kernel mirrored: a same-padded correlation of dy with
    // the weight wf[i, o, t] = w[o, i, k³-1-t], so it reuses the forward path (gathers only, no
    // overlapping scatter between tasks).
    const int64_t taps = g.taps();
    float* wf = grow(tl_weights, g.Ci * g.Co * taps);
    const float* wp = w.f32();
    for (int64_t o = 0; o < g.Co; ++o)
      for (int64_t i = 0; i < g.Ci; ++i)
        for (int64_t t = 0; t < taps; ++t) wf[(i * g.Co + o) * taps + t] = wp[(o * g.Ci + i) * taps + taps - 1 - t];
    same_conv({g.N, g.Co, g.Ci, g.H, g.W, g.D, g.k}, dy.f32(), wf, nullptr, dx.f32(), true);
  }
  if (dw.data) same_conv_dw(g, x.f32(), dy.f32(), dw.f32());
  if (db.data) channel_sums(dy.f32(), g.N, g.Co, g.hwd(), db.f32());
}

namespace {

// ConvTranspose3d k = s = 2 as one GEMM per task: T[(o, a, b, c), v] = Σ_i w[i, (o, a, b, c)]·x[i, v]
// over the input voxels v of the task's rows, then T's rows scatter into the 2×2×2 blocks.
struct Transposed {
  int64_t N, Ci, Co, H, W, D;
  int64_t hwd() const { return H * W * D; }
  int64_t Co8() const { return Co * 8; }
  Tasks tasks() const { return Tasks(H * W, Co8() * D); }
  // Offset in one output channel [2H, 2W, 2D] of the row (2h + a, 2w + b) for input row r = (h, w).
  int64_t out_row(int64_t r, int64_t a, int64_t b) const {
    return ((2 * (r / W) + a) * 2 * W + 2 * (r % W) + b) * 2 * D;
  }
};

Transposed transposed_geometry(const Tensor& x, const Tensor& w) {
  return {x.dim(0), x.dim(1), w.dim(1), x.dim(2), x.dim(3), x.dim(4)};
}

}  // namespace

void conv_transpose3d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const Transposed g = transposed_geometry(x, w);
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), D = g.D, Co8 = g.Co8();
  const float *xp = x.f32(), *wp = w.f32(), *bp = b.data ? b.f32() : nullptr;
  float* yp = y.f32();
  parallel_for(g.N * tasks.chunks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * D;
      float* T = grow(tl_columns, Co8 * len);
      sgemm(true, false, Co8, len, g.Ci, 1.0f, wp, Co8, xp + n * g.Ci * hwd + r0 * D, hwd, 0.0f, T, len);
      for (int64_t o = 0; o < g.Co; ++o) {
        const float bias = bp ? bp[o] : 0.0f;
        float* yo = yp + (n * g.Co + o) * 8 * hwd;
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t bb = 0; bb < 2; ++bb) {
            // Rows c = 0 and c = 1 of the block interleave along the output's D.
            const float* even = T + (o * 8 + a * 4 + bb * 2) * len;
            const float* odd = even + len;
            for (int64_t r = r0; r < r1; ++r) {
              float* out = yo + g.out_row(r, a, bb);
              const int64_t off = (r - r0) * D;
              for (int64_t d = 0; d < D; ++d) {
                out[2 * d] = even[off + d] + bias;
                out[2 * d + 1] = odd[off + d] + bias;
              }
            }
          }
      }
    }
  });
}

void conv_transpose3d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                               const Tensor& dw, const Tensor& db) {
  const Transposed g = transposed_geometry(x, w);
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), D = g.D, Co8 = g.Co8(), count = g.N * tasks.chunks, size = g.Ci * Co8;
  if (dx.data || dw.data) {
    // Each task gathers its blocks of dy into G [(o, a, b, c), v] (the forward's scatter undone),
    // then dx[:, v] += w · G and the task's partial dw += x[:, v] · Gᵀ. Without dw every task is
    // its own partial-free unit; with it, tasks are grouped into the fixed partials.
    const int64_t parts = dw.data ? partial_count(count, size) : count;
    float* partials = dw.data ? grow(tl_partials, parts * size) : nullptr;
    const float *xp = x.f32(), *wp = w.f32(), *gp = dy.f32();
    parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t first = p * count / parts, last = (p + 1) * count / parts;
        for (int64_t t = first; t < last; ++t) {
          const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * D;
          float* G = grow(tl_columns, Co8 * len);
          for (int64_t o = 0; o < g.Co; ++o) {
            const float* go = gp + (n * g.Co + o) * 8 * hwd;
            for (int64_t a = 0; a < 2; ++a)
              for (int64_t bb = 0; bb < 2; ++bb) {
                float* even = G + (o * 8 + a * 4 + bb * 2) * len;
                float* odd = even + len;
                for (int64_t r = r0; r < r1; ++r) {
                  const float* in = go + g.out_row(r, a, bb);
                  const int64_t off = (r - r0) * D;
                  for (int64_t d = 0; d < D; ++d) {
                    even[off + d] = in[2 * d];
                    odd[off + d] = in[2 * d + 1];
                  }
                }
              }
          }
          const int64_t at = n * g.Ci * hwd + r0 * D;  // the task's first voxel in x and dx
          if (dx.data) sgemm(false, false, g.Ci, len, Co8, 1.0f, wp, Co8, G, len, 1.0f, dx.f32() + at, hwd);
          if (dw.data)
            sgemm(false, true, g.Ci, Co8, len, 1.0f, xp + at, hwd, G, len, t == first ? 0.0f : 1.0f,
                  partials + p * size, Co8);
        }
      }
    });
    if (dw.data) reduce_partials(partials, parts, size, dw.f32());
  }
  if (db.data) channel_sums(dy.f32(), g.N, g.Co, 8 * hwd, db.f32());
}

}  // namespace amae::cpu
