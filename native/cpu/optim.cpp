#include "../ops/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/threads.h"

namespace amae::cpu {

namespace {

// Elements per task and per partial sum. Fixed (not derived from the thread count), so sums are
// combined in the same order, bit for bit, on any machine.
constexpr int64_t kChunk = 16384;

// Runs fn(task, tensor, begin, end) over a list of tensors cut into chunks of at most kChunk
// elements that never span two tensors, all in one parallel_for. numel_of(i) gives tensor i's
// size. Tasks are numbered tensor by tensor, chunk by chunk; returns their count.
template <class Numel, class Fn>
int64_t for_each_chunk(size_t n, const Numel& numel_of, const Fn& fn) {
  // first[i] = tensor i's first task; grows once per calling thread. The lambda below must use
  // the pointer: inside it, the name `first` would be the worker thread's own instance.
  thread_local std::vector<int64_t> first;
  first.resize(n + 1);
  int64_t* f = first.data();
  f[0] = 0;
  for (size_t i = 0; i < n; ++i) f[i + 1] = f[i] + (numel_of(i) + kChunk - 1) / kChunk;
  const int64_t tasks = f[n];
  parallel_for(tasks, 1, [&, f](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      // The last tensor whose first task is ≤ t (empty tensors own no task and are skipped).
      const size_t i = static_cast<size_t>(std::upper_bound(f, f + n + 1, t) - f - 1);
      const int64_t lo = (t - f[i]) * kChunk;
      fn(t, i, lo, std::min(numel_of(i), lo + kChunk));
    }
  });
  return tasks;
}

// Σ x² over [0, n) in double. Eight independent accumulators, combined in a fixed order, break
// the add latency chain (the compiler may not reorder a floating-point sum by itself).
double sum_sq(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(x[i + j]) * x[i + j];
  for (; i < n; ++i) acc[0] += double(x[i]) * x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Σ over all tensors of Σ x², deterministic: per-chunk partials summed in task order.
double sum_sq_all(const Tensor* xs, size_t n) {
  thread_local std::vector<double> partials;
  size_t chunks = 0;
  for (size_t i = 0; i < n; ++i) chunks += static_cast<size_t>((xs[i].numel() + kChunk - 1) / kChunk);
  partials.resize(chunks);
  double* part = partials.data();
  const int64_t tasks = for_each_chunk(
      n, [&](size_t i) { return xs[i].numel(); },
      [&](int64_t t, size_t i, int64_t b, int64_t e) { part[t] = sum_sq(xs[i].f32() + b, e - b); });
  double total = 0;
  for (int64_t t = 0; t < tasks; ++t) total += part[t];
  return total;
}

void scale_all(const Tensor* xs, size_t n, float s) {
  for_each_chunk(
      n, [&](size_t i) { return xs[i].numel(); },
      [&](int64_t, size_t i, int64_t b, int64_t e) {
        float* d = xs[i].f32();
        for (int64_t j = b; j < e; ++j) d[j] *= s;
      });
}

void adamw_range(float* p, const float* g, float* m, float* v, int64_t b, int64_t e, const AdamWCoef& c) {
  for (int64_t i = b; i < e; ++i) {
    p[i] *= c.decay;
    m[i] = m[i] * c.beta1 + c.one_minus_beta1 * g[i];
    v[i] = v[i] * c.beta2 + c.one_minus_beta2 * g[i] * g[i];
    p[i] -= c.step_size * m[i] / (std::sqrt(v[i]) / c.bc2_sqrt + c.eps);
  }
}

// The one AdamW pass behind both entry points: every slot's elements in one parallel_for.
void adamw_slots(const AdamWSlot* slots, size_t n, double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t step) {
  const AdamWCoef with = adamw_coef(lr, beta1, beta2, eps, weight_decay, step);
  const AdamWCoef without = adamw_coef(lr, beta1, beta2, eps, 0.0, step);
  for_each_chunk(
      n, [&](size_t i) { return slots[i].param.numel(); },
      [&](int64_t, size_t i, int64_t b, int64_t e) {
        const AdamWSlot& s = slots[i];
        adamw_range(s.param.f32(), s.grad.f32(), s.m.f32(), s.v.f32(), b, e, s.decay ? with : without);
      });
}

}  // namespace

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                double beta2, double eps, double weight_decay, int64_t step) {
  const AdamWSlot slot{param, grad, m, v, true};
  adamw_slots(&slot, 1, lr, beta1, beta2, eps, weight_decay, step);
}

void adamw_step_multi(const std::vector<AdamWSlot>& slots, double lr, double beta1, double beta2, double eps,
                      double weight_decay, int64_t step) {
  adamw_slots(slots.data(), slots.size(), lr, beta1, beta2, eps, weight_decay, step);
}

void grad_norm_sq(const Tensor& x, const Tensor& out) {
  out.f32()[0] = static_cast<float>(sum_sq_all(&x, 1));
}

void scale_inplace(const Tensor& x, float s) { scale_all(&x, 1, s); }

double clip_grad_norm(const std::vector<Tensor>& grads, float max_norm) {
  const double norm = std::sqrt(sum_sq_all(grads.data(), grads.size()));
  if (!std::isfinite(norm)) return norm;
  const float coef = clip_coef(norm, max_norm);
  if (coef < 1.0f) scale_all(grads.data(), grads.size(), coef);
  return norm;
}

}  // namespace amae::cpu
