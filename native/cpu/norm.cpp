#include "../ops/norm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "../core/threads.h"

namespace amae::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off

// Σ a_i and Σ b_i in double over eight lanes (lane j takes every i ≡ j mod 8), combined pairwise:
// a fixed association, so the result never depends on scheduling. `vec(i)` gives the eight terms
// of a and of b at i.. i+7 as two pairs of 4-double vectors (AVX2, the build's baseline), `one(i)`
// a single term pair for the tail. Both sums share one pass over memory. Written with intrinsics:
// the compiler kept a generic lane loop scalar (its accumulators spilled), which made the norms a
// quarter of a UNETR step.
struct Quad {
  __m256d a_lo, a_hi, b_lo, b_hi;
};
template <class Vec, class One>
std::pair<double, double> lane_sums(int64_t n, Vec vec, One one) {
  __m256d sa0 = _mm256_setzero_pd(), sa1 = sa0, sb0 = sa0, sb1 = sa0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Quad q = vec(i);
    sa0 = _mm256_add_pd(sa0, q.a_lo);
    sa1 = _mm256_add_pd(sa1, q.a_hi);
    sb0 = _mm256_add_pd(sb0, q.b_lo);
    sb1 = _mm256_add_pd(sb1, q.b_hi);
  }
  alignas(32) double sa[8], sb[8];
  _mm256_store_pd(sa, sa0);
  _mm256_store_pd(sa + 4, sa1);
  _mm256_store_pd(sb, sb0);
  _mm256_store_pd(sb + 4, sb1);
  for (int j = 0; i < n; ++i, ++j) {
    const auto [ta, tb] = one(i);
    sa[j] += ta;
    sb[j] += tb;
  }
  auto total = [](const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); };
  return {total(sa), total(sb)};
}

// The eight floats at p as two 4-double vectors.
inline void widen(const float* p, __m256d& lo, __m256d& hi) {
  const __m256 x = _mm256_loadu_ps(p);
  lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
  hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
}
inline void widen(__m256 x, __m256d& lo, __m256d& hi) {
  lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
  hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
}

// (Σ a, Σ a·b) in double of float vectors a, b given 8 at a time by `ab(i, a, b)`.
template <class AB, class One>
std::pair<double, double> sum_and_dot(int64_t n, AB ab, One one) {
  return lane_sums(
      n,
      [&](int64_t i) {
        __m256 fa, fb;
        ab(i, fa, fb);
        Quad q;
        __m256d b_lo, b_hi;
        widen(fa, q.a_lo, q.a_hi);
        widen(fb, b_lo, b_hi);
        q.b_lo = _mm256_mul_pd(q.a_lo, b_lo);
        q.b_hi = _mm256_mul_pd(q.a_hi, b_hi);
        return q;
      },
      [&](int64_t i) {
        const auto [fa, fb] = one(i);
        return std::pair<double, double>(double(fa), double(fa) * double(fb));
      });
}

int64_t rows_per_task(int64_t v) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, v)); }

// LeakyReLU on 8 floats: x > 0 ? x : x·slope (slope 1: the identity, exactly).
inline __m256 lrelu8(__m256 x, __m256 slope) {
  return _mm256_blendv_ps(_mm256_mul_ps(x, slope), x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
}
}  // namespace

void instance_norm_act_forward(const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps,
                               float slope) {
  const int64_t rows = x.dim(0) * x.dim(1), v = x.stride(1);
  const float* in = x.f32();
  float* out = y.f32();
  float* mu_out = mean.f32();
  float* rs_out = rstd.f32();
  parallel_for(rows, rows_per_task(v), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* p = in + r * v;
      // Moments about the row's first value, in double, in one pass: E[d²] − E[d]² then cancels
      // only by (mean − shift)²/var, a few digits of double's sixteen even when the shift is an
      // outlier, where moments about zero would lose everything for a volume with a large offset.
      const double shift = p[0];
      const __m256d sh = _mm256_set1_pd(shift);
      const auto [sum, sum_sq] = lane_sums(
          v,
          [&](int64_t i) {
            Quad q;
            widen(p + i, q.a_lo, q.a_hi);
            q.a_lo = _mm256_sub_pd(q.a_lo, sh);
            q.a_hi = _mm256_sub_pd(q.a_hi, sh);
            q.b_lo = _mm256_mul_pd(q.a_lo, q.a_lo);
            q.b_hi = _mm256_mul_pd(q.a_hi, q.a_hi);
            return q;
          },
          [&](int64_t i) {
            const double d = double(p[i]) - shift;
            return std::pair<double, double>(d, d * d);
          });
      const double dm = sum / double(v);
      const double mu = shift + dm;
      const double var = std::max(0.0, sum_sq / double(v) - dm * dm);
      const double rs = 1.0 / std::sqrt(var + double(eps));
      mu_out[r] = float(mu);
      rs_out[r] = float(rs);
      // y from the stored float statistics, so the backward's x̂ is exactly the forward's. In
      // place (q == p) is safe: every element is read once, after the statistics.
      const float m = mu_out[r], s = rs_out[r];
      float* q = out + r * v;
      const __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s), vslope = _mm256_set1_ps(slope);
      int64_t i = 0;
      for (; i + 8 <= v; i += 8)
        _mm256_storeu_ps(q + i, lrelu8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), vm), vs), vslope));
      for (; i < v; ++i) {
        const float n = (p[i] - m) * s;
        q[i] = n > 0 ? n : n * slope;
      }
    }
  });
}

void instance_norm_forward(const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps) {
  instance_norm_act_forward(x, y, mean, rstd, eps, 1.0f);
}

void instance_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                            const Tensor& dx) {
  const int64_t rows = x.dim(0) * x.dim(1), v = x.stride(1);
  const float* in = x.f32();
  const float* g = dy.f32();
  const float* mu_in = mean.f32();
  const float* rs_in = rstd.f32();
  float* d = dx.f32();
  parallel_for(rows, rows_per_task(v), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* p = in + r * v;
      const float* gr = g + r * v;
      const float m = mu_in[r], s = rs_in[r];
      const __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s);
      const auto [g_sum, gx_sum] = sum_and_dot(
          v,
          [&](int64_t i, __m256& a, __m256& xh) {
            a = _mm256_loadu_ps(gr + i);
            xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), vm), vs);
          },
          [&](int64_t i) { return std::pair<float, float>(gr[i], (p[i] - m) * s); });
      const float g_mean = float(g_sum / double(v)), gx_mean = float(gx_sum / double(v));
      float* q = d + r * v;
      for (int64_t i = 0; i < v; ++i) q[i] += s * (gr[i] - g_mean - (p[i] - m) * s * gx_mean);
    }
  });
}

void instance_norm_act_backward(const Tensor& y, const Tensor& rstd, const Tensor& dy, const Tensor& dx, float slope) {
  const int64_t rows = y.dim(0) * y.dim(1), v = y.stride(1);
  const float* out = y.f32();
  const float* g = dy.f32();
  const float* rs_in = rstd.f32();
  float* d = dx.f32();
  const float inv = 1.0f / slope;
  parallel_for(rows, rows_per_task(v), [&](int64_t b, int64_t e) {
    const __m256 zero = _mm256_setzero_ps(), vslope = _mm256_set1_ps(slope), vinv = _mm256_set1_ps(inv);
    // dn and x̂ of 8 elements: y > 0 ? (dy, y) : (dy·slope, y / slope).
    auto undo8 = [&](const float* q, const float* gr, int64_t i, __m256& dn, __m256& xh) {
      const __m256 yv = _mm256_loadu_ps(q + i), gv = _mm256_loadu_ps(gr + i);
      const __m256 pos = _mm256_cmp_ps(yv, zero, _CMP_GT_OQ);
      dn = _mm256_blendv_ps(_mm256_mul_ps(gv, vslope), gv, pos);
      xh = _mm256_blendv_ps(_mm256_mul_ps(yv, vinv), yv, pos);
    };
    for (int64_t r = b; r < e; ++r) {
      const float* q = out + r * v;
      const float* gr = g + r * v;
      const float s = rs_in[r];
      auto one = [&](int64_t i) {
        return q[i] > 0 ? std::pair<float, float>(gr[i], q[i]) : std::pair<float, float>(gr[i] * slope, q[i] * inv);
      };
      const auto [g_sum, gx_sum] = sum_and_dot(v, [&](int64_t i, __m256& dn, __m256& xh) { undo8(q, gr, i, dn, xh); }, one);
      const float g_mean = float(g_sum / double(v)), gx_mean = float(gx_sum / double(v));
      float* o = d + r * v;
      const __m256 vs = _mm256_set1_ps(s), vgm = _mm256_set1_ps(g_mean), vgx = _mm256_set1_ps(gx_mean);
      int64_t i = 0;
      for (; i + 8 <= v; i += 8) {
        __m256 dn, xh;
        undo8(q, gr, i, dn, xh);
        const __m256 t = _mm256_sub_ps(_mm256_sub_ps(dn, vgm), _mm256_mul_ps(xh, vgx));
        _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(o + i), _mm256_mul_ps(vs, t)));
      }
      for (; i < v; ++i) {
        const auto [dn, xh] = one(i);
        o[i] += s * (dn - g_mean - xh * gx_mean);
      }
    }
  });
}

}  // namespace amae::cpu
