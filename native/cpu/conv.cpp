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
// Most weight-gradient partials held at once (16 MiB); wide layers (few voxels, many channels) get
// fewer partials, which costs little there because they have few tasks anyway.
constexpr int64_t kPartialFloats = int64_t(1) << 22;
constexpr int64_t kMaxPartials = 32;
constexpr int64_t kReduceGrain = 4096;

// Scratch that grows to its high-water mark once per thread and is then reused by every call.
// One vector per role, because a thread that fills one (the caller) also runs tasks using another.
thread_local std::vector<float> tl_columns;  // a task's column block (any thread)
thread_local std::vector<float> tl_weights;  // the weight laid out for the GEMM (caller)
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

// out[i] += Σ_g partials[g][i], g ascending; nothing when there are no partials (no samples).
void reduce_partials(const float* partials, int64_t count, int64_t size, float* out) {
  if (count == 0) return;
  parallel_for(size, kReduceGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float s = partials[i];
      for (int64_t g = 1; g < count; ++g) s += partials[g * size + i];
      out[i] += s;
    }
  });
}

// A stride-1 correlation with zero padding k/2 over volumes [N, C, H, W, D], as GEMMs shaped for
// throughput: the k taps along D go into the GEMM's rows (M = (o, dd)) and the k² taps across
// rows into its inner dimension (K = (i, dh, dw)). The column block then holds whole input rows,
// k² copies of the input rather than im2col's k³; M is k·Co, so a GEMM register tile is well
// filled even at 16 channels; and a cheap pass adds the k products, each shifted along D, into
// the output. For k = 1 all of this collapses to one plain GEMM on the input itself.
struct SameConv {
  int64_t N, Ci, Co, H, W, D, k;
  int64_t hwd() const { return H * W * D; }
  int64_t M() const { return Co * k; }
  int64_t K() const { return Ci * k * k; }
  // A task buffers its column block [K, len] and the GEMM's output [M, len].
  Tasks tasks() const { return Tasks(H * W, (K() + M()) * D); }
};

// The GEMM's weight [(a, dd), (b, dh, dw)] from w [Co, Ci, k, k, k]. For the forward, a = o and
// b = i. For the input gradient (flip), a = i and b = o and the kernel is mirrored: dx is the
// correlation of dy with w[o, i, k-1-dh, k-1-dw, k-1-dd], a gather like the forward, so tasks
// never write the same voxel.
void gemm_weight(const float* w, int64_t Co, int64_t Ci, int64_t k, bool flip, float* out) {
  const int64_t A = flip ? Ci : Co, B = flip ? Co : Ci, K = B * k * k;
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t dh = 0; dh < k; ++dh)
        for (int64_t dw = 0; dw < k; ++dw)
          for (int64_t dd = 0; dd < k; ++dd) {
            const int64_t src = flip ? (((b * Ci + a) * k + k - 1 - dh) * k + k - 1 - dw) * k + k - 1 - dd
                                     : (((a * Ci + b) * k + dh) * k + dw) * k + dd;
            out[(a * k + dd) * K + (b * k + dh) * k + dw] = w[src];
          }
}

// The column block of rows [r0, r1) of one sample `src` [Ci, H, W, D]: row (c, dh, dw) of `col`
// holds, for each voxel (h, w, d) of the block, src[c, h+dh-pad, w+dw-pad, d], or 0 where that
// row lies outside the volume. Within one h, consecutive rows come from consecutive source rows,
// so each (c, dh, dw) copies one contiguous run per plane.
void row_columns(const SameConv& g, const float* src, int64_t r0, int64_t r1, float* col) {
  const int64_t pad = g.k / 2, D = g.D, len = (r1 - r0) * D;
  float* dst = col;
  for (int64_t c = 0; c < g.Ci; ++c)
    for (int64_t dh = 0; dh < g.k; ++dh)
      for (int64_t dw = 0; dw < g.k; ++dw, dst += len)
        for (int64_t r = r0; r < r1;) {
          const int64_t h = r / g.W, w0 = r % g.W, w1 = std::min(g.W, w0 + r1 - r);  // this plane's rows
          float* o = dst + (r - r0) * D;
          const int64_t hh = h + dh - pad;
          // Rows w in [lo, hi) read source rows w + dw - pad inside the plane.
          const int64_t lo = std::clamp(pad - dw, w0, w1), hi = std::clamp(g.W + pad - dw, lo, w1);
          if (hh < 0 || hh >= g.H) {
            std::fill(o, o + (w1 - w0) * D, 0.0f);
          } else {
            std::fill(o, o + (lo - w0) * D, 0.0f);
            std::memcpy(o + (lo - w0) * D, src + c * g.hwd() + (hh * g.W + lo + dw - pad) * D,
                        static_cast<size_t>((hi - lo) * D) * sizeof(float));
            std::fill(o + (hi - w0) * D, o + (w1 - w0) * D, 0.0f);
          }
          r += w1 - w0;
        }
}

// out[o, v] = base + Σ_dd P[(o, dd), v + dd - 1] over each row of D voxels (k = 3), where base
// is out itself (accumulate), the bias, or 0; terms past the row's ends are the zero padding.
void add_shifted_rows(const float* P, int64_t Co, int64_t len, int64_t D, const float* bias, bool accumulate,
                      float* out, int64_t ld) {
  for (int64_t o = 0; o < Co; ++o) {
    const float *p0 = P + o * 3 * len, *p1 = p0 + len, *p2 = p1 + len;
    float* y = out + o * ld;
    const float b = bias ? bias[o] : 0.0f;
    for (int64_t j = 0; j < len; j += D) {
      float* yr = y + j;
      const float *a = p0 + j, *c = p1 + j, *e = p2 + j;
      auto at = [&](int64_t d) {
        float s = (accumulate ? yr[d] : b) + c[d];
        if (d > 0) s += a[d - 1];
        if (d + 1 < D) s += e[d + 1];
        return s;
      };
      yr[0] = at(0);
      for (int64_t d = 1; d + 1 < D; ++d) yr[d] = (accumulate ? yr[d] : b) + c[d] + a[d - 1] + e[d + 1];
      if (D > 1) yr[D - 1] = at(D - 1);
    }
  }
}

// dst[n] (+)= conv(src[n]) (+ bias) with the GEMM weight `wg` [M, K]; `accumulate` adds into dst.
void same_conv(const SameConv& g, const float* src, const float* wg, const float* bias, float* dst, bool accumulate) {
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), M = g.M(), K = g.K();
  parallel_for(g.N * tasks.chunks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * g.D;
      const float* in = src + n * g.Ci * hwd;
      float* out = dst + n * g.Co * hwd + r0 * g.D;
      if (g.k == 1) {
        float beta = accumulate ? 1.0f : 0.0f;
        if (bias) {
          for (int64_t o = 0; o < g.Co; ++o) std::fill(out + o * hwd, out + o * hwd + len, bias[o]);
          beta = 1.0f;
        }
        sgemm(false, false, M, len, K, 1.0f, wg, K, in + r0 * g.D, hwd, beta, out, hwd);
        continue;
      }
      float* col = grow(tl_columns, (K + M) * len);
      float* P = col + K * len;
      row_columns(g, in, r0, r1, col);
      sgemm(false, false, M, len, K, 1.0f, wg, K, col, len, 0.0f, P, len);
      add_shifted_rows(P, g.Co, len, g.D, bias, accumulate, out, hwd);
    }
  });
}

// dw[o, i, dh, dw, dd] += Σ_n Σ_v dy[n, o, v]·x[n, i, v + (dh, dw, dd) - pad]. In GEMM form the
// shift along D moves onto dy: partial[(o, dd), (i, dh, dw)] = Σ_v dy[o, v - dd + pad]·col[(i, dh, dw), v].
void same_conv_dw(const SameConv& g, const float* x, const float* dy, float* dw) {
  const Tasks tasks = g.tasks();
  const int64_t hwd = g.hwd(), M = g.M(), K = g.K(), k = g.k, pad = k / 2, D = g.D;
  const int64_t size = M * K, count = g.N * tasks.chunks;
  if (count == 0) return;  // no samples: nothing to add (and no partial would be written)
  const int64_t parts = partial_count(count, size);
  float* partials = grow(tl_partials, parts * size);
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t first = p * count / parts, last = (p + 1) * count / parts;
      for (int64_t t = first; t < last; ++t) {
        const int64_t n = t / tasks.chunks, r0 = tasks.first_row(t), r1 = tasks.end_row(t), len = (r1 - r0) * D;
        const float* xn = x + n * g.Ci * hwd;
        const float* gn = dy + n * g.Co * hwd + r0 * D;
        const float beta = t == first ? 0.0f : 1.0f;
        if (k == 1) {
          sgemm(false, true, M, K, len, 1.0f, gn, hwd, xn + r0 * D, hwd, beta, partials + p * size, K);
          continue;
        }
        float* col = grow(tl_columns, (K + M) * len);
        float* shifted = col + K * len;  // [(o, dd), v]: dy[o] shifted by dd - pad along each row
        row_columns(g, xn, r0, r1, col);
        for (int64_t o = 0; o < g.Co; ++o)
          for (int64_t dd = 0; dd < k; ++dd) {
            const int64_t s = pad - dd;  // shifted[v] = dy[v + s] within the row
            const int64_t lo = std::clamp<int64_t>(-s, 0, D), hi = std::clamp<int64_t>(D - s, lo, D);
            float* out = shifted + (o * k + dd) * len;
            for (int64_t j = 0; j < len; j += D) {
              std::fill(out + j, out + j + lo, 0.0f);
              std::memcpy(out + j + lo, gn + o * hwd + j + lo + s, static_cast<size_t>(hi - lo) * sizeof(float));
              std::fill(out + j + hi, out + j + D, 0.0f);
            }
          }
        sgemm(false, true, M, K, len, 1.0f, shifted, len, col, len, beta, partials + p * size, K);
      }
    }
  });
  // dw += Σ_p partials[p] in p order, each element moved from [(o, dd), (i, dh, dw)] to w's layout.
  const int64_t Ci = g.Ci;
  parallel_for(size, kReduceGrain, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t dd = e % k, dwi = e / k % k, dh = e / (k * k) % k, i = e / (k * k * k) % Ci, o = e / (k * k * k * Ci);
      const int64_t src = (o * k + dd) * K + (i * k + dh) * k + dwi;
      float s = partials[src];
      for (int64_t q = 1; q < parts; ++q) s += partials[q * size + src];
      dw[e] += s;
    }
  });
}

SameConv conv_geometry(const Tensor& x, const Tensor& w) {
  return {x.dim(0), x.dim(1), w.dim(0), x.dim(2), x.dim(3), x.dim(4), w.dim(2)};
}

}  // namespace

void conv3d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const SameConv g = conv_geometry(x, w);
  float* wg = grow(tl_weights, g.M() * g.K());
  gemm_weight(w.f32(), g.Co, g.Ci, g.k, false, wg);
  same_conv(g, x.f32(), wg, b.data ? b.f32() : nullptr, y.f32(), false);
}

void conv3d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw,
                     const Tensor& db) {
  const SameConv g = conv_geometry(x, w);
  if (dx.data) {
    const SameConv t = {g.N, g.Co, g.Ci, g.H, g.W, g.D, g.k};  // dy → dx: the channel roles swap
    float* wg = grow(tl_weights, t.M() * t.K());
    gemm_weight(w.f32(), g.Co, g.Ci, g.k, true, wg);
    same_conv(t, dy.f32(), wg, nullptr, dx.f32(), true);
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
