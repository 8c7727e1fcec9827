// CUDA optimiser step and gradient clipping (native/ops/optim.h), mirroring
// native/cpu/optim.cpp. These UPDATE their tensors in place.
//
// A model has a few hundred parameter tensors, so the multi-tensor forms (and, through them, the
// single-tensor ones) launch one kernel per table of up to kTable tensors rather than one per
// tensor. The table travels by value as a __grid_constant__ kernel parameter (~2.4 KB, under the
// 4 KB limit every CUDA version allows): nothing is uploaded, so no host buffer must outlive an
// asynchronous copy. Each tensor is cut into chunks of kChunk elements, one block per chunk; a
// block finds its tensor by a scan of the table's block offsets.
//
// Sums of squares are deterministic: one double partial per chunk (fixed order inside the
// block), then one block adds the partials in a fixed order. The chunking depends only on the
// tensor sizes.
#include <climits>
#include <cmath>
#include <vector>

#include "../ops/optim.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

constexpr int kOptThreads = 256;
constexpr int64_t kChunk = 16 * kOptThreads;  // elements per block (and per partial sum)
constexpr int kTable = 48;                     // tensors per launch

int64_t chunks_of(int64_t n) { return (n + kChunk - 1) / kChunk; }

// Entry s of a table owns blocks [block_start[s], block_start[s + 1]); block_start[count] is the
// grid size. Returns the entry of this block (every thread of the block gets the same answer).
// Empty entries own no block and are stepped over.
__device__ __forceinline__ int entry_of_block(const int64_t* block_start) {
  int s = 0;
  while (int64_t(blockIdx.x) >= block_start[s + 1]) ++s;
  return s;
}

// ---------------------------------------------------------------------------------------------
// AdamW

struct AdamWTable {
  int count;
  int64_t block_start[kTable + 1];
  int64_t numel[kTable];
  float* p[kTable];
  const float* g[kTable];
  float* m[kTable];
  float* v[kTable];
  unsigned char decay[kTable];
};
static_assert(sizeof(AdamWTable) + 2 * sizeof(AdamWCoef) <= 4000, "kernel parameters must stay under 4 KB");

__global__ void __launch_bounds__(kOptThreads)
    adamw_kernel(const __grid_constant__ AdamWTable t, const AdamWCoef with, const AdamWCoef without) {
  const int s = entry_of_block(t.block_start);
  const int64_t lo = (int64_t(blockIdx.x) - t.block_start[s]) * kChunk;
  const int64_t hi = min(t.numel[s], lo + kChunk);
  const AdamWCoef c = t.decay[s] ? with : without;
  float* p = t.p[s];
  const float* g = t.g[s];
  float* m = t.m[s];
  float* v = t.v[s];
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const float gi = g[i];
    float pi = p[i] * c.decay;
    const float mi = m[i] * c.beta1 + c.one_minus_beta1 * gi;
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
    pi -= c.step_size * mi / (sqrtf(vi) / c.bc2_sqrt + c.eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

// The one AdamW pass behind both entry points; slots with decay == false use weight decay 0.
void adamw_slots(const AdamWSlot* slots, size_t n, double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t step) {
  const AdamWCoef with = adamw_coef(lr, beta1, beta2, eps, weight_decay, step);
  const AdamWCoef without = adamw_coef(lr, beta1, beta2, eps, 0.0, step);
  AdamWTable t{};
  cudaStream_t st = nullptr;
  auto flush = [&] {
    if (t.count == 0) return;
    if (!st) st = stream();
    adamw_kernel<<<static_cast<unsigned>(t.block_start[t.count]), kOptThreads, 0, st>>>(t, with, without);
    AMAE_CUDA_LAUNCHED();
    t.count = 0;
  };
  for (size_t i = 0; i < n; ++i) {
    const AdamWSlot& s = slots[i];
    const int64_t numel = s.param.numel();
    if (numel == 0) continue;
    const int k = t.count;
    const int64_t first = k == 0 ? 0 : t.block_start[k];
    AMAE_CHECK(first + chunks_of(numel) <= INT_MAX, "adamw: tensor too large for one launch");
    t.block_start[k] = first;
    t.block_start[k + 1] = first + chunks_of(numel);
    t.numel[k] = numel;
    t.p[k] = s.param.f32();
    t.g[k] = s.grad.f32();
    t.m[k] = s.m.f32();
    t.v[k] = s.v.f32();
    t.decay[k] = s.decay ? 1 : 0;
    t.count = k + 1;
    // Start a new launch when the table is full or the grid would grow past what fits.
    if (t.count == kTable || t.block_start[t.count] > INT_MAX / 2) flush();
  }
  flush();
}

// ---------------------------------------------------------------------------------------------
// Sums of squares and scaling over lists of tensors

struct ListTable {
  int count;
  int64_t part_base;  // the partial index of this launch's block 0
  int64_t block_start[kTable + 1];
  int64_t numel[kTable];
  float* x[kTable];
};
static_assert(sizeof(ListTable) + 16 <= 4000, "kernel parameters must stay under 4 KB");

// part[part_base + block] = Σ x² over the block's chunk, in double.
__global__ void __launch_bounds__(kOptThreads) sum_sq_kernel(const __grid_constant__ ListTable t, double* part) {
  const int s = entry_of_block(t.block_start);
  const int64_t lo = (int64_t(blockIdx.x) - t.block_start[s]) * kChunk;
  const int64_t hi = min(t.numel[s], lo + kChunk);
  const float* x = t.x[s];
  double acc = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += double(x[i]) * x[i];
  acc = block_sum<double>(acc);
  if (threadIdx.x == 0) part[t.part_base + blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kOptThreads) scale_kernel(const __grid_constant__ ListTable t, float scale) {
  const int s = entry_of_block(t.block_start);
  const int64_t lo = (int64_t(blockIdx.x) - t.block_start[s]) * kChunk;
  const int64_t hi = min(t.numel[s], lo + kChunk);
  float* x = t.x[s];
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) x[i] *= scale;
}

// One block: the n partials in a fixed order; the total goes to out_f (as float) and/or out_d.
__global__ void sum_partials_kernel(const double* part, int64_t n, float* out_f, double* out_d) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += part[i];
  acc = block_sum<double>(acc);
  if (threadIdx.x == 0) {
    if (out_f) *out_f = static_cast<float>(acc);
    if (out_d) *out_d = acc;
  }
}

// Fills tables of up to kTable non-empty tensors and calls launch(table) for each, in list
// order, with part_base counting the blocks of the launches before it.
template <class Launch>
void for_each_table(const Tensor* xs, size_t n, const Launch& launch) {
  ListTable t{};
  int64_t base = 0;
  auto flush = [&] {
    if (t.count == 0) return;
    t.part_base = base;
    launch(t);
    base += t.block_start[t.count];
    t.count = 0;
  };
  for (size_t i = 0; i < n; ++i) {
    const int64_t numel = xs[i].numel();
    if (numel == 0) continue;
    const int k = t.count;
    const int64_t first = k == 0 ? 0 : t.block_start[k];
    AMAE_CHECK(first + chunks_of(numel) <= INT_MAX, "tensor too large for one launch");
    t.block_start[k] = first;
    t.block_start[k + 1] = first + chunks_of(numel);
    t.numel[k] = numel;
    t.x[k] = xs[i].f32();
    t.count = k + 1;
    if (t.count == kTable || t.block_start[t.count] > INT_MAX / 2) flush();
  }
  flush();
}

int64_t partials_of(const Tensor* xs, size_t n) {
  int64_t p = 0;
  for (size_t i = 0; i < n; ++i) p += chunks_of(xs[i].numel());
  return p;
}

// Enqueues Σ over all tensors of Σ x² into out_f and/or out_d (device pointers); `part` holds
// partials_of(xs, n) doubles.
void sum_sq_all(const Tensor* xs, size_t n, double* part, float* out_f, double* out_d, cudaStream_t st) {
  for_each_table(xs, n, [&](const ListTable& t) {
    sum_sq_kernel<<<static_cast<unsigned>(t.block_start[t.count]), kOptThreads, 0, st>>>(t, part);
    AMAE_CUDA_LAUNCHED();
  });
  sum_partials_kernel<<<1, kOptThreads, 0, st>>>(part, partials_of(xs, n), out_f, out_d);
  AMAE_CUDA_LAUNCHED();
}

void scale_all(const Tensor* xs, size_t n, float s, cudaStream_t st) {
  for_each_table(xs, n, [&](const ListTable& t) {
    scale_kernel<<<static_cast<unsigned>(t.block_start[t.count]), kOptThreads, 0, st>>>(t, s);
    AMAE_CUDA_LAUNCHED();
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
  const int64_t parts = partials_of(&x, 1);
  // At least one part, so an empty x still gets valid scratch (and writes out[0] = 0).
  Workspace ws(Workspace::bytes_for({sizeof(double) * size_t(parts > 0 ? parts : 1)}));
  double* part = ws.take<double>(parts > 0 ? parts : 1);
  sum_sq_all(&x, 1, part, out.f32(), nullptr, stream());
}

void scale_inplace(const Tensor& x, float s) { scale_all(&x, 1, s, stream()); }

double clip_grad_norm(const std::vector<Tensor>& grads, float max_norm) {
  const int64_t parts = partials_of(grads.data(), grads.size());
  double total = 0;
  cudaStream_t st = stream();
  {
    Workspace ws(Workspace::bytes_for({sizeof(double) * size_t(parts > 0 ? parts : 1), sizeof(double)}));
    double* part = ws.take<double>(parts > 0 ? parts : 1);
    double* total_d = ws.take<double>(1);
    sum_sq_all(grads.data(), grads.size(), part, nullptr, total_d, st);
    // The contract returns the norm on the host: wait for it, while the scratch is still ours.
    AMAE_CUDA_CHECK(cudaMemcpyAsync(&total, total_d, sizeof(double), cudaMemcpyDeviceToHost, st));
    AMAE_CUDA_CHECK(cudaStreamSynchronize(st));
  }
  const double norm = std::sqrt(total);
  if (!std::isfinite(norm)) return norm;
  const float coef = clip_coef(norm, max_norm);
  if (coef < 1.0f) scale_all(grads.data(), grads.size(), coef, st);
  return norm;
}

}  // namespace amae::cuda
