// Conv3d (k = 1 or 3, "same" padding) and ConvTranspose3d (k = s = 2) as direct kernels, in the
// order of cpu/conv.cpp: conv3d forward/backward, then the transposed pair.
//
// Every kernel is a gather: a thread computes complete output (or input-gradient) values for one
// voxel and a block of kChannelBlock channels, so no two threads write the same element and no
// atomics are needed; the weight is read through the read-only cache (all threads of a warp read
// the same weight element, mostly, so each load is a broadcast). Weight and bias gradients sum
// over N × voxels: they are reduced in a fixed order through partials whose count depends only
// on the shapes (never on the device), then a second pass adds the partials, in order, into the
// gradient. Results are therefore bit-identical run to run.
//
// Performance note: this is the correctness-first version. The fast path later is an implicit
// GEMM: conv3d's forward is [Co, Ci·k³] × [Ci·k³, voxels] (the column matrix gathered on the fly
// into shared memory, as cpu/conv.cpp does with row_columns), its dx the same with the flipped,
// transposed weight, and dw = dy · colsᵀ; ConvTranspose3d is one plain GEMM [Co·8, Ci] × [Ci, voxels]
// through cuda::sgemm followed by the 2×2×2 scatter (see cpu/conv.cpp). cuDNN's
// cudnnConvolutionForward/BackwardData/BackwardFilter would replace all of it where available.
#include "../ops/conv.h"

#include <algorithm>
#include <string>

#include "context.cuh"

namespace amae::cuda {
namespace {

constexpr int kChannelBlock = 8;   // output channels per thread in the gather kernels
constexpr int kReduceThreads = 256;
// Weight/bias-gradient partials: aim for this many blocks in all, give each chunk at least
// kMinChunk voxels, and hold at most kMaxPartialFloats partial values. Constants, so the
// reduction order depends on the shapes alone.
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMinChunk = 4096;
constexpr int64_t kMaxPartialFloats = int64_t(1) << 22;  // 16 MiB

// Chunks per reduction: `units` independent sums (e.g. Co·Ci weight blocks) of `len` terms each,
// `unit_floats` partial values per unit and chunk.
int64_t chunk_count(int64_t units, int64_t len, int64_t unit_floats) {
  int64_t p = (kTargetBlocks + units - 1) / units;
  p = std::min(p, (len + kMinChunk - 1) / kMinChunk);
  p = std::min(p, kMaxPartialFloats / std::max<int64_t>(1, units * unit_floats));
  p = std::min<int64_t>(p, 65535);  // gridDim.y
  return std::max<int64_t>(p, 1);
}

// Chunk p of P of the range [0, len): [p·len/P, (p+1)·len/P).
__device__ __forceinline__ int64_t chunk_begin(int64_t len, int p, int P) { return len * p / P; }

// out[e] += Σ_p partials[p·size + e], p ascending.
__global__ void add_partials_kernel(const float* __restrict__ partials, int P, int64_t size, float* __restrict__ out) {
  AMAE_CUDA_FOR(e, size) {
    float s = partials[e];
    for (int p = 1; p < P; ++p) s += partials[p * size + e];
    out[e] += s;
  }
}

// partials[p·C + c] = Σ dy[n, c, v] over the chunk p of the (n, v) pairs, v < per_channel.
// Grid (C, P); the db of both convolutions (per_channel = H·W·D, or 8·H·W·D for the transposed one).
__global__ void channel_sums_kernel(const float* __restrict__ dy, int64_t N, int C, int64_t per_channel,
                                    float* __restrict__ partials) {
  const int c = blockIdx.x, p = blockIdx.y, P = gridDim.y;
  const int64_t len = N * per_channel, m0 = chunk_begin(len, p, P), m1 = chunk_begin(len, p + 1, P);
  float s = 0.0f;
  for (int64_t m = m0 + threadIdx.x; m < m1; m += blockDim.x) {
    const int64_t n = m / per_channel, v = m % per_channel;
    s += dy[(n * C + c) * per_channel + v];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partials[int64_t(p) * C + c] = s;
}

// db[c] += Σ_n Σ_v dy[n, c, v].
void channel_sums(const float* dy, int64_t N, int64_t C, int64_t per_channel, float* partials, int64_t P, float* db,
                  cudaStream_t st) {
  channel_sums_kernel<<<dim3(unsigned(C), unsigned(P)), kReduceThreads, 0, st>>>(dy, N, int(C), per_channel,
                                                                                 partials);
  AMAE_CUDA_LAUNCHED();
  add_partials_kernel<<<blocks_for(C), kThreads, 0, st>>>(partials, int(P), C, db);
  AMAE_CUDA_LAUNCHED();
}

struct Volume {
  int64_t N;
  int H, W, D;
  __host__ __device__ int64_t hwd() const { return int64_t(H) * W * D; }
};

// The int kernel-side coordinates need each channel (of the larger, output volume for the
// transposed convolution) below 2³¹ voxels; offsets across channels and samples are int64.
void check_volume(const Tensor& x, const char* what) {
  AMAE_CHECK(x.ndim == 5, std::string(what) + ": x must be [N, C, H, W, D]");
  AMAE_CHECK(8 * x.dim(2) * x.dim(3) * x.dim(4) < (int64_t(1) << 31) && x.dim(1) < (int64_t(1) << 24),
             std::string(what) + " (CUDA): volume too large");
}

// ---------------------------------------------------------------------------------------------
// Conv3d. y[n, o, h, w, d] = b[o] + Σ_i Σ_(dh,dw,dd) w[o, i, dh, dw, dd]·x[n, i, h+dh-P, w+dw-P, d+dd-P],
// P = K/2, terms outside the volume being the zero padding.

// The K³ stencil around voxel v of one channel: fn(tap, u) for every tap (dh, dw, dd) whose voxel
// u = v + Sign·((dh, dw, dd) − P) lies inside the volume (the zero padding adds nothing, so it is
// skipped). Sign +1 is the forward's stencil, −1 the same stencil read backwards (dx).
template <int K, int Sign, class Fn>
__device__ __forceinline__ void for_each_tap(const Volume& g, int v, Fn fn) {
  constexpr int P = K / 2;
  const int d = v % g.D, wq = v / g.D % g.W, h = v / (g.D * g.W);
#pragma unroll
  for (int dh = 0; dh < K; ++dh) {
    const int hh = h + Sign * (dh - P);
    if (hh < 0 || hh >= g.H) continue;
#pragma unroll
    for (int dw = 0; dw < K; ++dw) {
      const int ww = wq + Sign * (dw - P);
      if (ww < 0 || ww >= g.W) continue;
#pragma unroll
      for (int dd = 0; dd < K; ++dd) {
        const int zz = d + Sign * (dd - P);
        if (zz < 0 || zz >= g.D) continue;
        fn((dh * K + dw) * K + dd, (hh * g.W + ww) * g.D + zz);
      }
    }
  }
}

// Forward: one thread per (n, block of kChannelBlock output channels, voxel), voxel fastest, so a
// warp reads consecutive x voxels and the same weights.
template <int K>
__global__ void conv3d_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                      const float* __restrict__ b, float* __restrict__ y, Volume g, int Ci, int Co) {
  constexpr int K3 = K * K * K;
  const int64_t hwd = g.hwd();
  const int groups = (Co + kChannelBlock - 1) / kChannelBlock;
  AMAE_CUDA_FOR(idx, g.N * groups * hwd) {
    const int v = int(idx % hwd);
    const int64_t t = idx / hwd;
    const int o0 = int(t % groups) * kChannelBlock;
    const int64_t n = t / groups;
    const int oc = min(kChannelBlock, Co - o0);  // channels of this block that exist
    float acc[kChannelBlock] = {};
    for (int i = 0; i < Ci; ++i) {
      const float* xc = x + (n * Ci + i) * hwd;
      const float* wc = w + (int64_t(o0) * Ci + i) * K3;  // w[o0 + oo, i, tap] = wc[oo·Ci·K3 + tap]
      for_each_tap<K, 1>(g, v, [&](int tap, int u) {
        const float xv = xc[u];
#pragma unroll
        for (int oo = 0; oo < kChannelBlock; ++oo)
          if (oo < oc) acc[oo] += xv * __ldg(wc + int64_t(oo) * Ci * K3 + tap);
      });
    }
#pragma unroll
    for (int oo = 0; oo < kChannelBlock; ++oo)
      if (oo < oc) y[(n * Co + o0 + oo) * hwd + v] = (b ? b[o0 + oo] : 0.0f) + acc[oo];
  }
}

// dx[n, i, v] += Σ_o Σ_tap w[o, i, tap]·dy[n, o, v − tap + P]: the forward's stencil read
// backwards, gathered per input voxel (the transposed stencil), one thread per (n, block of
// input channels, voxel).
template <int K>
__global__ void conv3d_dx_kernel(const float* __restrict__ dy, const float* __restrict__ w, float* __restrict__ dx,
                                 Volume g, int Ci, int Co) {
  constexpr int K3 = K * K * K;
  const int64_t hwd = g.hwd();
  const int groups = (Ci + kChannelBlock - 1) / kChannelBlock;
  AMAE_CUDA_FOR(idx, g.N * groups * hwd) {
    const int v = int(idx % hwd);
    const int64_t t = idx / hwd;
    const int i0 = int(t % groups) * kChannelBlock;
    const int64_t n = t / groups;
    const int ic = min(kChannelBlock, Ci - i0);
    float acc[kChannelBlock] = {};
    for (int o = 0; o < Co; ++o) {
      const float* gc = dy + (n * Co + o) * hwd;
      const float* wc = w + (int64_t(o) * Ci + i0) * K3;  // w[o, i0 + ii, tap] = wc[ii·K3 + tap]
      for_each_tap<K, -1>(g, v, [&](int tap, int u) {
        const float gv = gc[u];
#pragma unroll
        for (int ii = 0; ii < kChannelBlock; ++ii)
          if (ii < ic) acc[ii] += gv * __ldg(wc + ii * K3 + tap);
      });
    }
#pragma unroll
    for (int ii = 0; ii < kChannelBlock; ++ii)
      if (ii < ic) dx[(n * Ci + i0 + ii) * hwd + v] += acc[ii];
  }
}

// dw partials: block (o·Ci + i, p) sums dy[n, o, v]·x[n, i, v + tap − P] over chunk p of the
// (n, v) pairs, all K³ taps at once (each thread keeps K³ sums), and writes them to
// partials[p][o, i, tap], i.e. in w's own layout.
template <int K>
__global__ void conv3d_dw_kernel(const float* __restrict__ x, const float* __restrict__ dy, Volume g, int Ci, int Co,
                                 float* __restrict__ partials) {
  constexpr int K3 = K * K * K;
  const int64_t hwd = g.hwd(), len = g.N * hwd;
  const int pair = blockIdx.x, o = pair / Ci, i = pair % Ci, p = blockIdx.y;
  const int64_t m0 = chunk_begin(len, p, gridDim.y), m1 = chunk_begin(len, p + 1, gridDim.y);
  float acc[K3] = {};
  for (int64_t m = m0 + threadIdx.x; m < m1; m += blockDim.x) {
    const int64_t n = m / hwd;
    const int v = int(m % hwd);
    const float gv = dy[(n * Co + o) * hwd + v];
    const float* xc = x + (n * Ci + i) * hwd;
    for_each_tap<K, 1>(g, v, [&](int tap, int u) { acc[tap] += gv * xc[u]; });
  }
  float* out = partials + (int64_t(p) * Co * Ci + pair) * K3;
#pragma unroll
  for (int tap = 0; tap < K3; ++tap) {
    const float s = block_sum(acc[tap]);
    if (threadIdx.x == 0) out[tap] = s;
  }
}

template <int K>
void conv3d_backward_k(const Volume& g, int Ci, int Co, const float* x, const float* w, const float* dy, float* dx,
                       float* dw, float* db) {
  constexpr int K3 = K * K * K;
  const int64_t hwd = g.hwd(), len = g.N * hwd;
  if (len == 0) return;  // no voxels: every gradient gets + 0
  cudaStream_t st = stream();
  const int64_t w_size = int64_t(Co) * Ci * K3;
  const int64_t Pw = dw && w_size > 0 ? chunk_count(int64_t(Co) * Ci, len, K3) : 0;
  const int64_t Pb = db && Co > 0 ? chunk_count(Co, len, 1) : 0;
  if (dx && Ci > 0) {
    const int64_t n = g.N * ((Ci + kChannelBlock - 1) / kChannelBlock) * hwd;
    conv3d_dx_kernel<K><<<blocks_for(n), kThreads, 0, st>>>(dy, w, dx, g, Ci, Co);
    AMAE_CUDA_LAUNCHED();
  }
  if (Pw == 0 && Pb == 0) return;
  Workspace ws(Workspace::bytes_for({size_t(Pw * w_size) * sizeof(float), size_t(Pb * Co) * sizeof(float)}));
  float* wpart = ws.take<float>(Pw * w_size);
  float* bpart = ws.take<float>(Pb * Co);
  if (Pw > 0) {
    conv3d_dw_kernel<K><<<dim3(unsigned(int64_t(Co) * Ci), unsigned(Pw)), kReduceThreads, 0, st>>>(x, dy, g, Ci, Co,
                                                                                                   wpart);
    AMAE_CUDA_LAUNCHED();
    add_partials_kernel<<<blocks_for(w_size), kThreads, 0, st>>>(wpart, int(Pw), w_size, dw);
    AMAE_CUDA_LAUNCHED();
  }
  if (Pb > 0) channel_sums(dy, g.N, Co, hwd, bpart, Pb, db, st);
}

Volume volume_of(const Tensor& x) { return {x.dim(0), int(x.dim(2)), int(x.dim(3)), int(x.dim(4))}; }

}  // namespace

void conv3d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  check_volume(x, "conv3d_forward");
  const Volume g = volume_of(x);
  const int Ci = int(x.dim(1)), Co = int(w.dim(0)), K = int(w.dim(2));
  AMAE_CHECK((K == 1 || K == 3) && w.dim(1) == Ci && y.numel() == g.N * Co * g.hwd(),
             "conv3d_forward: shapes disagree");
  const int64_t n = g.N * ((Co + kChannelBlock - 1) / kChannelBlock) * g.hwd();
  if (n == 0) return;
  const float* bp = b.data ? b.f32() : nullptr;
  cudaStream_t st = stream();
  if (K == 1)
    conv3d_forward_kernel<1><<<blocks_for(n), kThreads, 0, st>>>(x.f32(), w.f32(), bp, y.f32(), g, Ci, Co);
  else
    conv3d_forward_kernel<3><<<blocks_for(n), kThreads, 0, st>>>(x.f32(), w.f32(), bp, y.f32(), g, Ci, Co);
  AMAE_CUDA_LAUNCHED();
}

void conv3d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw,
                     const Tensor& db) {
  check_volume(x, "conv3d_backward");
  const Volume g = volume_of(x);
  const int Ci = int(x.dim(1)), Co = int(w.dim(0)), K = int(w.dim(2));
  AMAE_CHECK((K == 1 || K == 3) && w.dim(1) == Ci && dy.numel() == g.N * Co * g.hwd(),
             "conv3d_backward: shapes disagree");
  AMAE_CHECK(w.numel() < (int64_t(1) << 31), "conv3d_backward (CUDA): weight too large");  // dw's grid.x = Co·Ci
  float* dxp = dx.data ? dx.f32() : nullptr;
  float* dwp = dw.data ? dw.f32() : nullptr;
  float* dbp = db.data ? db.f32() : nullptr;
  if (K == 1)
    conv3d_backward_k<1>(g, Ci, Co, x.f32(), w.f32(), dy.f32(), dxp, dwp, dbp);
  else
    conv3d_backward_k<3>(g, Ci, Co, x.f32(), w.f32(), dy.f32(), dxp, dwp, dbp);
}

namespace {

// ---------------------------------------------------------------------------------------------
// ConvTranspose3d, kernel 2, stride 2: y[n, o, 2h+a, 2w+b, 2d+c] = b[o] + Σ_i x[n, i, h, w, d]·
// w[i, o, a, b, c]. Every output voxel has exactly one source voxel (and one tap) per input
// channel, so all three passes are plain gathers.

// Output voxel u of one channel [2H, 2W, 2D] → its source voxel v in [H, W, D] and tap (a, b, c).
__device__ __forceinline__ void split_output(const Volume& g, int u, int& v, int& tap) {
  const int z = u % (2 * g.D), r = u / (2 * g.D), yx = r % (2 * g.W), yy = r / (2 * g.W);
  v = ((yy >> 1) * g.W + (yx >> 1)) * g.D + (z >> 1);
  tap = ((yy & 1) * 2 + (yx & 1)) * 2 + (z & 1);
}

// Input voxel v and tap (a, b, c) → its output voxel in one channel [2H, 2W, 2D].
__device__ __forceinline__ int output_of(const Volume& g, int v, int tap) {
  const int d = v % g.D, wq = v / g.D % g.W, h = v / (g.D * g.W);
  const int a = tap >> 2, b = (tap >> 1) & 1, c = tap & 1;
  return ((2 * h + a) * 2 * g.W + 2 * wq + b) * 2 * g.D + 2 * d + c;
}

// Forward: one thread per (n, block of output channels, output voxel), output voxel fastest.
__global__ void conv_transpose3d_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                const float* __restrict__ b, float* __restrict__ y, Volume g, int Ci,
                                                int Co) {
  const int64_t hwd = g.hwd(), out = 8 * hwd;
  const int groups = (Co + kChannelBlock - 1) / kChannelBlock;
  AMAE_CUDA_FOR(idx, g.N * groups * out) {
    const int u = int(idx % out);
    const int64_t t = idx / out;
    const int o0 = int(t % groups) * kChannelBlock;
    const int64_t n = t / groups;
    const int oc = min(kChannelBlock, Co - o0);
    int v, tap;
    split_output(g, u, v, tap);
    float acc[kChannelBlock] = {};
    for (int i = 0; i < Ci; ++i) {
      const float xv = x[(n * Ci + i) * hwd + v];
      const float* wc = w + (int64_t(i) * Co + o0) * 8 + tap;  // w[i, o0 + oo, tap] = wc[oo·8]
#pragma unroll
      for (int oo = 0; oo < kChannelBlock; ++oo)
        if (oo < oc) acc[oo] += xv * __ldg(wc + oo * 8);
    }
#pragma unroll
    for (int oo = 0; oo < kChannelBlock; ++oo)
      if (oo < oc) y[(n * Co + o0 + oo) * out + u] = (b ? b[o0 + oo] : 0.0f) + acc[oo];
  }
}

// dx[n, i, v] += Σ_o Σ_tap w[i, o, tap]·dy[n, o, output_of(v, tap)]: one thread per (n, block of
// input channels, input voxel).
__global__ void conv_transpose3d_dx_kernel(const float* __restrict__ dy, const float* __restrict__ w,
                                           float* __restrict__ dx, Volume g, int Ci, int Co) {
  const int64_t hwd = g.hwd(), out = 8 * hwd;
  const int groups = (Ci + kChannelBlock - 1) / kChannelBlock;
  AMAE_CUDA_FOR(idx, g.N * groups * hwd) {
    const int v = int(idx % hwd);
    const int64_t t = idx / hwd;
    const int i0 = int(t % groups) * kChannelBlock;
    const int64_t n = t / groups;
    const int ic = min(kChannelBlock, Ci - i0);
    int at[8];
#pragma unroll
    for (int tap = 0; tap < 8; ++tap) at[tap] = output_of(g, v, tap);
    float acc[kChannelBlock] = {};
    for (int o = 0; o < Co; ++o) {
      const float* gc = dy + (n * Co + o) * out;
#pragma unroll
      for (int tap = 0; tap < 8; ++tap) {
        const float gv = gc[at[tap]];
        const float* wc = w + (int64_t(i0) * Co + o) * 8 + tap;  // w[i0 + ii, o, tap] = wc[ii·Co·8]
#pragma unroll
        for (int ii = 0; ii < kChannelBlock; ++ii)
          if (ii < ic) acc[ii] += gv * __ldg(wc + int64_t(ii) * Co * 8);
      }
    }
#pragma unroll
    for (int ii = 0; ii < kChannelBlock; ++ii)
      if (ii < ic) dx[(n * Ci + i0 + ii) * hwd + v] += acc[ii];
  }
}

// dw partials: block (i·Co + o, p) sums x[n, i, v]·dy[n, o, output_of(v, tap)] over chunk p of
// the (n, v) pairs for the 8 taps, into partials[p][i, o, tap] (w's layout).
__global__ void conv_transpose3d_dw_kernel(const float* __restrict__ x, const float* __restrict__ dy, Volume g, int Ci,
                                           int Co, float* __restrict__ partials) {
  const int64_t hwd = g.hwd(), out = 8 * hwd, len = g.N * hwd;
  const int pair = blockIdx.x, i = pair / Co, o = pair % Co, p = blockIdx.y;
  const int64_t m0 = chunk_begin(len, p, gridDim.y), m1 = chunk_begin(len, p + 1, gridDim.y);
  float acc[8] = {};
  for (int64_t m = m0 + threadIdx.x; m < m1; m += blockDim.x) {
    const int64_t n = m / hwd;
    const int v = int(m % hwd);
    const float xv = x[(n * Ci + i) * hwd + v];
    const float* gc = dy + (n * Co + o) * out;
#pragma unroll
    for (int tap = 0; tap < 8; ++tap) acc[tap] += xv * gc[output_of(g, v, tap)];
  }
  float* dst = partials + (int64_t(p) * Ci * Co + pair) * 8;
#pragma unroll
  for (int tap = 0; tap < 8; ++tap) {
    const float s = block_sum(acc[tap]);
    if (threadIdx.x == 0) dst[tap] = s;
  }
}

}  // namespace

void conv_transpose3d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  check_volume(x, "conv_transpose3d_forward");
  const Volume g = volume_of(x);
  const int Ci = int(x.dim(1)), Co = int(w.dim(1));
  AMAE_CHECK(w.dim(0) == Ci && y.numel() == g.N * Co * 8 * g.hwd(), "conv_transpose3d_forward: shapes disagree");
  const int64_t n = g.N * ((Co + kChannelBlock - 1) / kChannelBlock) * 8 * g.hwd();
  if (n == 0) return;
  conv_transpose3d_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(
      x.f32(), w.f32(), b.data ? b.f32() : nullptr, y.f32(), g, Ci, Co);
  AMAE_CUDA_LAUNCHED();
}

void conv_transpose3d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                               const Tensor& dw, const Tensor& db) {
  check_volume(x, "conv_transpose3d_backward");
  const Volume g = volume_of(x);
  const int Ci = int(x.dim(1)), Co = int(w.dim(1));
  AMAE_CHECK(w.dim(0) == Ci && dy.numel() == g.N * Co * 8 * g.hwd(), "conv_transpose3d_backward: shapes disagree");
  AMAE_CHECK(w.numel() < (int64_t(1) << 31), "conv_transpose3d_backward (CUDA): weight too large");  // dw's grid.x = Ci·Co
  const int64_t hwd = g.hwd(), len = g.N * hwd;
  if (len == 0) return;
  cudaStream_t st = stream();
  if (dx.data && Ci > 0) {
    const int64_t n = g.N * ((Ci + kChannelBlock - 1) / kChannelBlock) * hwd;
    conv_transpose3d_dx_kernel<<<blocks_for(n), kThreads, 0, st>>>(dy.f32(), w.f32(), dx.f32(), g, Ci, Co);
    AMAE_CUDA_LAUNCHED();
  }
  const int64_t w_size = int64_t(Ci) * Co * 8;
  const int64_t Pw = dw.data && w_size > 0 ? chunk_count(int64_t(Ci) * Co, len, 8) : 0;
  const int64_t Pb = db.data && Co > 0 ? chunk_count(Co, 8 * len, 1) : 0;
  if (Pw == 0 && Pb == 0) return;
  Workspace ws(Workspace::bytes_for({size_t(Pw * w_size) * sizeof(float), size_t(Pb * Co) * sizeof(float)}));
  float* wpart = ws.take<float>(Pw * w_size);
  float* bpart = ws.take<float>(Pb * Co);
  if (Pw > 0) {
    conv_transpose3d_dw_kernel<<<dim3(unsigned(int64_t(Ci) * Co), unsigned(Pw)), kReduceThreads, 0, st>>>(
        x.f32(), dy.f32(), g, Ci, Co, wpart);
    AMAE_CUDA_LAUNCHED();
    add_partials_kernel<<<blocks_for(w_size), kThreads, 0, st>>>(wpart, int(Pw), w_size, dw.f32());
    AMAE_CUDA_LAUNCHED();
  }
  if (Pb > 0) channel_sums(dy.f32(), g.N, Co, 8 * hwd, bpart, Pb, db.f32(), st);
}

}  // namespace amae::cuda
