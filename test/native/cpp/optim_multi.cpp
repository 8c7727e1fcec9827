// Checks the multi-tensor C++ entry points that native models use and the JS binding does not
// expose (they take lists): adamw_step_multi against per-tensor adamw_step calls, and
// clip_grad_norm against its definition.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../../../native/ops/optim.h"
#include "check.h"

using namespace amae;

namespace {

using check::expect;

std::vector<float> randn(size_t n, unsigned seed, float scale = 1) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

Tensor view(std::vector<float>& v) { return Tensor(v.data(), {int64_t(v.size())}); }

}  // namespace

int main() {
  // Sizes cover an empty tensor, a tensor smaller than a chunk and ones spanning several chunks.
  const std::vector<size_t> sizes = {5, 0, 16384 * 2 + 3, 16384, 77};
  const std::vector<bool> decay = {true, false, true, false, true};
  std::vector<std::vector<float>> p, g, m, v, p1, m1, v1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    p.push_back(randn(sizes[i], 1 + i));
    m.push_back(std::vector<float>(sizes[i], 0.0f));
    v.push_back(m.back());
  }
  p1 = p, m1 = m, v1 = v;
  for (int step = 1; step <= 3; ++step) {
    g.clear();
    for (size_t i = 0; i < sizes.size(); ++i) g.push_back(randn(sizes[i], 100 * step + i));
    std::vector<AdamWSlot> slots;
    for (size_t i = 0; i < sizes.size(); ++i) {
      slots.push_back({view(p[i]), view(g[i]), view(m[i]), view(v[i]), decay[i]});
      ops::adamw_step(view(p1[i]), view(g[i]), view(m1[i]), view(v1[i]), 1e-2, 0.9, 0.95, 1e-8,
                      decay[i] ? 0.05 : 0.0, step);
    }
    ops::adamw_step_multi(slots, 1e-2, 0.9, 0.95, 1e-8, 0.05, step);
  }
  // The same kernel and factors, so the results must agree bit for bit.
  expect(p == p1 && m == m1 && v == v1, "adamw_step_multi differs from per-tensor adamw_step");

  std::vector<Tensor> grads;
  double sq = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    g[i] = randn(sizes[i], 500 + i, 0.01f * float(i + 1));
    for (float x : g[i]) sq += double(x) * x;
    grads.push_back(view(g[i]));
  }
  const std::vector<std::vector<float>> before = g;
  const double norm = std::sqrt(sq);
  expect(std::fabs(ops::clip_grad_norm(grads, float(norm * 2)) - norm) <= 1e-12 * norm, "norm (no clipping)");
  expect(g == before, "gradients changed below max_norm");
  const double got = ops::clip_grad_norm(grads, float(norm / 4));
  expect(std::fabs(got - norm) <= 1e-12 * norm, "norm (clipping)");
  const float coef = float(double(float(norm / 4)) / (norm + 1e-6));
  for (size_t i = 0; i < sizes.size(); ++i)
    for (size_t j = 0; j < sizes[i]; ++j) expect(g[i][j] == before[i][j] * coef, "clipped gradient");
  expect(ops::clip_grad_norm({}, 1.0f) == 0.0, "empty list");
  g[2][7] = INFINITY;
  const std::vector<std::vector<float>> inf = g;
  expect(std::isinf(ops::clip_grad_norm(grads, 1.0f)) && g == inf, "non-finite norm leaves gradients alone");

  return check::report();
}
