#include "../ops/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/threads.h"

namespace amae::cpu {

namespace {

// Elements per partial sum. Fixed (not derived from the thread count), so the order in which
// partials are combined, and therefore every bit of the result, is the same on any machine.
constexpr int64_t kChunk = 8192;

// Partial sums live in a buffer that grows once per calling thread, so repeated calls allocate
// nothing. The lambdas below receive the pointer, never the thread_local itself.
double* scratch(size_t n) {
  thread_local std::vector<double> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// σ(x) and σ'(x) from e = exp(−|x|): never overflows, and σ' stays accurate where σ(x) rounds
// to 1 (p·(1 − p) would give 0 there).
inline void sigmoid(float x, float& p, float& dp) {
  const float e = std::exp(-std::fabs(x));
  const float inv = 1.0f / (1.0f + e);
  p = x >= 0 ? inv : e * inv;
  dp = e * inv * inv;
}

// Runs fn(task, row, begin, end) over `rows` rows of V elements cut into chunks of at most
// kChunk, so one big row is still spread over the pool and many small rows share a task.
template <class Fn>
void for_row_chunks(int64_t rows, int64_t V, int64_t chunks, const Fn& fn) {
  const int64_t grain = std::max<int64_t>(1, kChunk / std::max<int64_t>(1, V));
  parallel_for(rows * chunks, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t r = t / chunks, k = t % chunks;
      fn(t, r, r * V + k * kChunk, r * V + std::min(V, (k + 1) * kChunk));
    }
  });
}

struct DiceShape {
  int64_t rows, V, chunks;
  explicit DiceShape(const Tensor& logits)
      : rows(logits.dim(0) * logits.dim(1)),
        V(rows ? logits.numel() / rows : 0),
        chunks(std::max<int64_t>(1, (V + kChunk - 1) / kChunk)) {
    AMAE_CHECK(rows > 0, "dice loss needs at least one (sample, class) pair");
  }
};

// Per (n, c) row: sums[3r .. 3r+2] = (Σ p·g, Σ p, Σ g) in double. Returns a pointer into this
// thread's scratch, valid until the next scratch() call.
const double* dice_sums(const DiceShape& s, const float* x, const float* g) {
  double* part = scratch(static_cast<size_t>(3 * (s.rows * s.chunks + s.rows)));
  double* sums = part + 3 * s.rows * s.chunks;
  for_row_chunks(s.rows, s.V, s.chunks, [&](int64_t t, int64_t, int64_t b, int64_t e) {
    double pg = 0, ps = 0, gs = 0;
    for (int64_t i = b; i < e; ++i) {
      float p, dp;
      sigmoid(x[i], p, dp);
      pg += double(p) * g[i];
      ps += p;
      gs += g[i];
    }
    part[3 * t] = pg;
    part[3 * t + 1] = ps;
    part[3 * t + 2] = gs;
  });
  for (int64_t r = 0; r < s.rows; ++r) {
    double a[3] = {0, 0, 0};
    for (int64_t k = 0; k < s.chunks; ++k)
      for (int j = 0; j < 3; ++j) a[j] += part[3 * (r * s.chunks + k) + j];
    for (int j = 0; j < 3; ++j) sums[3 * r + j] = a[j];
  }
  return sums;
}

// Row statistics of the normalised-pixel target: mean and 1/sqrt(unbiased var + eps).
void row_norm(const float* t, int64_t L, double& mean, double& inv_std) {
  double s = 0;
  for (int64_t j = 0; j < L; ++j) s += t[j];
  mean = s / double(L);
  double ss = 0;
  for (int64_t j = 0; j < L; ++j) ss += (t[j] - mean) * (t[j] - mean);
  inv_std = 1.0 / std::sqrt(ss / double(L - 1) + kNormPixEps);
}

int64_t count_masked(const Tensor& mask) {
  const int32_t* m = mask.i32();
  int64_t n = 0;
  for (int64_t r = 0; r < mask.numel(); ++r) n += m[r] != 0;
  return n;
}

}  // namespace

void dice_loss_forward(const Tensor& logits, const Tensor& target, const Tensor& loss) {
  const DiceShape s(logits);
  const double* sums = dice_sums(s, logits.f32(), target.f32());
  double total = 0;
  for (int64_t r = 0; r < s.rows; ++r) {
    const double I = sums[3 * r], P = sums[3 * r + 1], G = sums[3 * r + 2];
    total += 1.0 - (2.0 * I + kDiceSmooth) / (P + G + kDiceSmooth);
  }
  loss.f32()[0] = static_cast<float>(total / double(s.rows));
}

// With num = 2I + s and den = P + G + s, ∂loss_r/∂p_i = (num − 2·g_i·den) / den², so per row
// dL/dx_i = (a − b·g_i)·σ'(x_i) with a = c·num/den², b = 2c/den and c = dloss / (N·C).
void dice_loss_backward(const Tensor& logits, const Tensor& target, const Tensor& dloss, const Tensor& dlogits) {
  const DiceShape s(logits);
  const float* x = logits.f32();
  const float* g = target.f32();
  float* dx = dlogits.f32();
  const double* sums = dice_sums(s, x, g);
  const double c = double(dloss.f32()[0]) / double(s.rows);
  for_row_chunks(s.rows, s.V, s.chunks, [&](int64_t, int64_t r, int64_t b, int64_t e) {
    const double num = 2.0 * sums[3 * r] + kDiceSmooth;
    const double den = sums[3 * r + 1] + sums[3 * r + 2] + kDiceSmooth;
    const float a = static_cast<float>(c * num / (den * den));
    const float bg = static_cast<float>(2.0 * c / den);
    for (int64_t i = b; i < e; ++i) {
      float p, dp;
      sigmoid(x[i], p, dp);
      dx[i] += (a - bg * g[i]) * dp;
    }
  });
}

void masked_mse_forward(const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& loss,
                        bool norm_pix) {
  const int64_t R = pred.dim(0), L = pred.dim(1);
  AMAE_CHECK(!norm_pix || L >= 2, "norm_pix needs rows of at least 2 values (unbiased variance)");
  const int64_t n_masked = count_masked(mask);
  float* out = loss.f32();
  if (n_masked == 0 || L == 0) {
    out[0] = 0.0f;
    return;
  }
  const float* p = pred.f32();
  const float* t = target.f32();
  const int32_t* m = mask.i32();
  double* part = scratch(static_cast<size_t>(R));
  parallel_for(R, std::max<int64_t>(1, kChunk / L), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      part[r] = 0;
      if (!m[r]) continue;
      const float* pr = p + r * L;
      const float* tr = t + r * L;
      double mean = 0, inv_std = 1;
      if (norm_pix) row_norm(tr, L, mean, inv_std);
      double ss = 0;
      for (int64_t j = 0; j < L; ++j) {
        const double d = pr[j] - (tr[j] - mean) * inv_std;
        ss += d * d;
      }
      part[r] = ss;
    }
  });
  double total = 0;
  for (int64_t r = 0; r < R; ++r) total += part[r];
  out[0] = static_cast<float>(total / (double(n_masked) * double(L)));
}

void masked_mse_backward(const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& dloss,
                         const Tensor& dpred, bool norm_pix) {
  const int64_t R = pred.dim(0), L = pred.dim(1);
  AMAE_CHECK(!norm_pix || L >= 2, "norm_pix needs rows of at least 2 values (unbiased variance)");
  const int64_t n_masked = count_masked(mask);
  if (n_masked == 0 || L == 0) return;
  const float* p = pred.f32();
  const float* t = target.f32();
  const int32_t* m = mask.i32();
  float* dp = dpred.f32();
  const double c = 2.0 * double(dloss.f32()[0]) / (double(n_masked) * double(L));
  parallel_for(R, std::max<int64_t>(1, kChunk / L), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (!m[r]) continue;
      const float* pr = p + r * L;
      const float* tr = t + r * L;
      float* dr = dp + r * L;
      double mean = 0, inv_std = 1;
      if (norm_pix) row_norm(tr, L, mean, inv_std);
      for (int64_t j = 0; j < L; ++j) dr[j] += static_cast<float>(c * (pr[j] - (tr[j] - mean) * inv_std));
    }
  });
}

}  // namespace amae::cpu
