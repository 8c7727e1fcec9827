#include "../ops/pool.h"

#include <algorithm>

#include "../core/threads.h"

namespace amae::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off
constexpr int64_t kCols = 256;     // columns per group-max task: 1 KiB of each row, a few cache lines

// Whether v replaces the current best: strictly greater keeps the first of equal values; a NaN
// replaces a number but not an earlier NaN, so the max is NaN as soon as any input is.
inline bool beats(float v, float best) { return v > best || (v != v && best == best); }

int64_t per_task(int64_t work_per_item) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, work_per_item)); }
}  // namespace

void maxpool3d_forward(const Tensor& x, const Tensor& y, const Tensor& argmax) {
  const int64_t W = x.dim(3), D = x.dim(4);
  const int64_t ho_n = y.dim(2), wo_n = y.dim(3), do_n = y.dim(4);
  const int64_t plane = x.stride(1), oplane = y.stride(1);
  const float* in = x.f32();
  float* out = y.f32();
  int32_t* am = argmax.i32();
  // One task item is one output row (n, c, ho): it reads input rows 2ho and 2ho + 1 only.
  parallel_for(y.dim(0) * y.dim(1) * ho_n, per_task(8 * wo_n * do_n), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t nc = row / ho_n, ho = row % ho_n;
      const float* src = in + nc * plane;
      float* dst = out + nc * oplane + ho * wo_n * do_n;
      int32_t* arg = am + nc * oplane + ho * wo_n * do_n;
      for (int64_t wo = 0; wo < wo_n; ++wo) {
        for (int64_t od = 0; od < do_n; ++od) {
          const int64_t base = (2 * ho * W + 2 * wo) * D + 2 * od;
          int64_t best_i = base;
          float best = src[base];
          // Visit the window in (h, w, d) order, i.e. ascending flat index: ties keep the first.
          for (int k = 1; k < 8; ++k) {
            const int64_t i = base + (k >> 2) * W * D + ((k >> 1) & 1) * D + (k & 1);
            if (beats(src[i], best)) {
              best = src[i];
              best_i = i;
            }
          }
          dst[wo * do_n + od] = best;
          arg[wo * do_n + od] = static_cast<int32_t>(best_i);
        }
      }
    }
  });
}

void maxpool3d_backward(const Tensor& argmax, const Tensor& dy, const Tensor& dx) {
  const int64_t ho_n = dy.dim(2), orow = dy.dim(3) * dy.dim(4);
  const int64_t plane = dx.stride(1), oplane = dy.stride(1);
  const int32_t* am = argmax.i32();
  const float* g = dy.f32();
  float* d = dx.f32();
  // Windows do not overlap, so output rows scatter into disjoint input rows: no two tasks touch
  // the same element and every element receives at most one contribution.
  parallel_for(dy.dim(0) * dy.dim(1) * ho_n, per_task(orow), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t nc = row / ho_n, ho = row % ho_n;
      float* dst = d + nc * plane;
      const int64_t o = nc * oplane + ho * orow;
      for (int64_t j = 0; j < orow; ++j) dst[am[o + j]] += g[o + j];
    }
  });
}

void group_max_forward(const Tensor& x, const Tensor& offsets, const Tensor& y, const Tensor& argmax) {
  const int64_t m_n = x.stride(0), groups = y.dim(0);
  const float* in = x.f32();
  const int32_t* off = offsets.i32();
  float* out = y.f32();
  int32_t* am = argmax.i32();
  const int64_t blocks = (m_n + kCols - 1) / kCols;
  // Column blocks are independent and each walks all rows in order: rows stream contiguously and
  // the result never depends on how blocks are scheduled.
  parallel_for(blocks, per_task(x.dim(0) * kCols), [&](int64_t b, int64_t e) {
    const int64_t c0 = b * kCols, c1 = std::min(m_n, e * kCols);
    for (int64_t s = 0; s < groups; ++s) {
      const int32_t r0 = off[s], r1 = off[s + 1];
      float* ys = out + s * m_n;
      int32_t* as = am + s * m_n;
      const float* first = in + r0 * m_n;
      for (int64_t c = c0; c < c1; ++c) {
        ys[c] = first[c];
        as[c] = r0;
      }
      for (int32_t r = r0 + 1; r < r1; ++r) {
        const float* xr = in + r * m_n;
        for (int64_t c = c0; c < c1; ++c) {
          if (beats(xr[c], ys[c])) {
            ys[c] = xr[c];
            as[c] = r;
          }
        }
      }
    }
  });
}

void group_max_backward(const Tensor& argmax, const Tensor& dy, const Tensor& dx) {
  const int64_t m_n = dy.stride(0), groups = dy.dim(0);
  const int32_t* am = argmax.i32();
  const float* g = dy.f32();
  float* d = dx.f32();
  const int64_t blocks = (m_n + kCols - 1) / kCols;
  // Column m only ever writes column m of dx, so column blocks never collide, and within a block
  // groups are added in ascending s: deterministic even if two groups named the same row.
  parallel_for(blocks, per_task(groups * kCols), [&](int64_t b, int64_t e) {
    const int64_t c0 = b * kCols, c1 = std::min(m_n, e * kCols);
    for (int64_t s = 0; s < groups; ++s) {
      const int32_t* as = am + s * m_n;
      const float* gs = g + s * m_n;
      for (int64_t c = c0; c < c1; ++c) d[as[c] * m_n + c] += gs[c];
    }
  });
}

}  // namespace amae::cpu
