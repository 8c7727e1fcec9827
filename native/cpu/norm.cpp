#include "../ops/norm.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "../core/threads.h"

namespace amae::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: enough work to amortise a hand-off

// Σ a(i) and Σ b(i) for i < n, each in eight double lanes combined pairwise: a fixed association
// (so the result never depends on scheduling) that still vectorises, unlike one serial
// accumulator. Both sums share one pass over memory.
template <class TermA, class TermB>
std::pair<double, double> lane_sums(int64_t n, TermA a, TermB b) {
  double sa[8] = {}, sb[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      sa[j] += a(i + j);
      sb[j] += b(i + j);
    }
  for (int j = 0; i < n; ++i, ++j) {
    sa[j] += a(i);
    sb[j] += b(i);
  }
  auto total = [](const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); };
  return {total(sa), total(sb)};
}

int64_t rows_per_task(int64_t v) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, v)); }
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
      const auto [sum, sum_sq] = lane_sums(
          v, [&](int64_t i) { return double(p[i]) - shift; },
          [&](int64_t i) {
            const double d = double(p[i]) - shift;
            return d * d;
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
      for (int64_t i = 0; i < v; ++i) {
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
      const auto [g_sum, gx_sum] = lane_sums(
          v, [&](int64_t i) { return double(gr[i]); }, [&](int64_t i) { return double(gr[i]) * double((p[i] - m) * s); });
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
    for (int64_t r = b; r < e; ++r) {
      const float* q = out + r * v;
      const float* gr = g + r * v;
      const float s = rs_in[r];
      auto xhat = [&](int64_t i) { return q[i] > 0 ? q[i] : q[i] * inv; };
      auto dn = [&](int64_t i) { return q[i] > 0 ? gr[i] : gr[i] * slope; };
      const auto [g_sum, gx_sum] = lane_sums(
          v, [&](int64_t i) { return double(dn(i)); }, [&](int64_t i) { return double(dn(i)) * double(xhat(i)); });
      const float g_mean = float(g_sum / double(v)), gx_mean = float(gx_sum / double(v));
      float* o = d + r * v;
      for (int64_t i = 0; i < v; ++i) o[i] += s * (dn(i) - g_mean - xhat(i) * gx_mean);
    }
  });
}

}  // namespace amae::cpu
