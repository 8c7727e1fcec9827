// Patch embedding (and the DCT's per-sample scales) on the GPU, mirroring cpu/patch_embed.cpp:
// GEMMs over extracted patches through cuda::sgemm, with small kernels for the extraction, its
// scatter-add inverse, the per-segment scale/shift epilogue and the per-segment channel sums.
// The volume form runs samples one after another as the CPU does, so its scratch (one sample's
// patches) is bounded by one sample's size however large the batch, and the weight gradient
// accumulates sample by sample in a fixed order. The rows form embeds every row in one GEMM.
//
// All scratch of one op call comes from a single Workspace taken at the op's start (a helper
// must never take a second one: the Workspace lock is not recursive).
#include <algorithm>

#include "../ops/patch_embed.h"
#include "context.cuh"
#include "gemm.h"

namespace amae::cuda {
namespace {

struct Grid {
  int64_t C, H, W, D, p;
  Grid(const Tensor& x, int64_t patch) : C(x.dim(1)), H(x.dim(2)), W(x.dim(3)), D(x.dim(4)), p(patch) {}
  __host__ __device__ int64_t gw() const { return W / p; }
  __host__ __device__ int64_t gd() const { return D / p; }
  __host__ __device__ int64_t P() const { return (H / p) * gw() * gd(); }
  __host__ __device__ int64_t K() const { return C * p * p * p; }  // one flattened patch: (c, ph, pw, pd)
  __host__ __device__ int64_t hwd() const { return H * W * D; }
  // Offset in x (of `samples` samples) of element k of row r of the patch matrix [samples·P, K]:
  // r = n·P + q, k = ((c·p + ph)·p + pw)·p + pd, and patch q = (gh·Gw + gw)·Gd + gd.
  __host__ __device__ int64_t source(int64_t r, int64_t k) const {
    const int64_t np = P(), n = r / np, q = r % np;
    const int64_t pd = k % p, pw = (k / p) % p, ph = (k / (p * p)) % p, c = k / (p * p * p);
    const int64_t gh = q / (gw() * gd()), gwi = (q / gd()) % gw(), gdi = q % gd();
    return (n * C + c) * hwd() + ((gh * p + ph) * W + gwi * p + pw) * D + gdi * p + pd;
  }
};

// One thread per element of the patch matrix: consecutive threads take consecutive pd, i.e. runs
// of p contiguous voxels, and write the patch matrix contiguously.
__global__ void extract_kernel(Grid g, int64_t samples, const float* __restrict__ x, float* __restrict__ patches) {
  const int64_t K = g.K();
  AMAE_CUDA_FOR(i, samples * g.P() * K) patches[i] = x[g.source(i / K, i % K)];
}

// dx += the patches put back in place. Patches do not overlap (every voxel is the source of at
// most one element), so no two threads touch the same voxel: no atomics needed.
__global__ void scatter_add_kernel(Grid g, int64_t samples, const float* __restrict__ patches, float* __restrict__ dx) {
  const int64_t K = g.K();
  AMAE_CUDA_FOR(i, samples * g.P() * K) dx[g.source(i / K, i % K)] += patches[i];
}

void extract(const Grid& g, int64_t samples, const float* x, float* patches) {
  const int64_t n = samples * g.P() * g.K();
  if (n <= 0) return;
  extract_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(g, samples, x, patches);
  AMAE_CUDA_LAUNCHED();
}

void scatter_add(const Grid& g, int64_t samples, const float* patches, float* dx) {
  const int64_t n = samples * g.P() * g.K();
  if (n <= 0) return;
  scatter_add_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(g, samples, patches, dx);
  AMAE_CUDA_LAUNCHED();
}

// The DCT's factors of segment s (pointers already at the first segment of the call): scale
// sw[s] (ones when absent) and shift sb[s]·b (b zero when absent, sb ones). Device pointers.
struct Scales {
  int64_t E;
  const float *b, *sw, *sb;
  bool any() const { return sw || b; }
  __device__ float scale(int64_t s, int64_t e) const { return sw ? sw[s * E + e] : 1.0f; }
  __device__ float shift(int64_t s, int64_t e) const { return b ? b[e] * (sb ? sb[s * E + e] : 1.0f) : 0.0f; }
};

Scales scales_of(const Tensor& b, const Tensor& sw, const Tensor& sb, int64_t E, int64_t first = 0) {
  return {E, b.data ? b.f32() : nullptr, sw.data ? sw.f32() + first * E : nullptr,
          sb.data ? sb.f32() + first * E : nullptr};
}

// Segment s owns rows off[s] .. off[s+1] − 1 (off non-decreasing, device memory, `count`
// segments). off == nullptr is the volume form's single segment: rows 0 .. rows − 1.
struct Segments {
  const int32_t* off;
  int64_t count, rows;
  __device__ int64_t begin(int64_t s) const { return off ? off[s] : 0; }
  __device__ int64_t end(int64_t s) const { return off ? off[s + 1] : rows; }
  // The segment holding row r: the last s with off[s] ≤ r, as the CPU's upper_bound − 1 (which
  // steps over empty segments). off[0] = 0 ≤ r < off[count] = rows keeps s in [0, count).
  __host__ __device__ int64_t of(int64_t r) const {
    if (!off) return 0;
    int64_t lo = 0, hi = count + 1;  // first index with off[i] > r lies in (lo, hi]
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      if (off[mid] > r)
        hi = mid;
      else
        lo = mid;
    }
    return lo;
  }
};

// y[t] = scale_s ⊙ src[t] + shift_s for every row t of segment s; src may be y (each element is
// read and then written by the same thread, hence no __restrict__).
__global__ void affine_rows_kernel(const float* src, float* y, Segments seg, Scales sc) {
  const int64_t E = sc.E;
  AMAE_CUDA_FOR(i, seg.rows * E) {
    const int64_t r = i / E, e = i % E, s = seg.of(r);
    y[i] = sc.scale(s, e) * src[i] + sc.shift(s, e);
  }
}

void affine_rows(const float* src, float* y, const Segments& seg, const Scales& sc) {
  const int64_t n = seg.rows * sc.E;
  if (n <= 0) return;
  affine_rows_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(src, y, seg, sc);
  AMAE_CUDA_LAUNCHED();
}

// ---- per-segment channel sums ------------------------------------------------------------------
// Per segment s and channel e, with S = Σ_{t ∈ s} dy[t, e]: dsw[s, e] += Σ_{t ∈ s} dy·z,
// dsb[s, e] += b[e]·S and db[e] += Σ_s sb[s, e]·S. A block takes 32 channels (a warp wide, so
// row segments coalesce) of one segment; its 8 row lanes each sum every 8th row in order and the
// lanes are added in lane order. S goes to scratch, and a second kernel adds the db terms in
// segment order, as the CPU does, so everything is deterministic.
constexpr int kSumCols = 32;
constexpr int kSumLanes = 8;

__global__ void __launch_bounds__(kSumCols * kSumLanes)
    channel_sums_kernel(const float* __restrict__ dy, const float* __restrict__ z, Segments seg, Scales sc,
                        float* __restrict__ dsw, float* __restrict__ dsb, float* __restrict__ S) {
  __shared__ float lane_sum[kSumLanes][kSumCols];
  __shared__ float lane_st[kSumLanes][kSumCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t E = sc.E, e = int64_t(blockIdx.x) * kSumCols + tx;
  for (int64_t s = blockIdx.y; s < seg.count; s += gridDim.y) {  // uniform per block
    float sum = 0.0f, st = 0.0f;
    if (e < E)
      for (int64_t t = seg.begin(s) + ty, t1 = seg.end(s); t < t1; t += kSumLanes) {
        const float g = dy[t * E + e];
        sum += g;
        if (dsw) st += g * z[t * E + e];
      }
    lane_sum[ty][tx] = sum;
    lane_st[ty][tx] = st;
    __syncthreads();
    if (ty == 0 && e < E) {
      sum = 0.0f;
      st = 0.0f;
#pragma unroll
      for (int l = 0; l < kSumLanes; ++l) {
        sum += lane_sum[l][tx];
        st += lane_st[l][tx];
      }
      if (dsw) dsw[s * E + e] += st;
      if (sc.b) {
        if (dsb) dsb[s * E + e] += sc.b[e] * sum;
        if (S) S[s * E + e] = sum;
      }
    }
    __syncthreads();  // the next segment overwrites the lane sums
  }
}

// db[e] += sb[s, e]·S[s, e] for s in order (sb ones when absent).
__global__ void channel_db_kernel(const float* __restrict__ S, int64_t count, Scales sc, float* __restrict__ db) {
  const int64_t E = sc.E;
  AMAE_CUDA_FOR(e, E) {
    float acc = db[e];
    for (int64_t s = 0; s < count; ++s) acc += (sc.sb ? sc.sb[s * E + e] : 1.0f) * S[s * E + e];
    db[e] = acc;
  }
}

// Absent outputs are nullptr. S: scratch of count·E floats, needed only when sc.b && db.
void channel_sums(const float* dy, const float* z, const Segments& seg, const Scales& sc, float* dsw, float* dsb,
                  float* db, float* S) {
  const int64_t E = sc.E;
  const bool bias = sc.b && (dsb || db);
  if ((!bias && !dsw) || E <= 0 || seg.count <= 0) return;
  if (!sc.b) db = nullptr;
  cudaStream_t s = stream();
  const dim3 grid(static_cast<unsigned>((E + kSumCols - 1) / kSumCols),
                  static_cast<unsigned>(std::min<int64_t>(seg.count, 65535)));
  channel_sums_kernel<<<grid, dim3(kSumCols, kSumLanes), 0, s>>>(dy, z, seg, sc, dsw, dsb, db ? S : nullptr);
  AMAE_CUDA_LAUNCHED();
  if (db) {
    channel_db_kernel<<<blocks_for(E), kThreads, 0, s>>>(S, seg.count, sc, db);
    AMAE_CUDA_LAUNCHED();
  }
}

// The conv's own output gradient: dy ⊙ sw per segment into `scaled` (rows·E scratch), or dy
// itself without scales.
const float* conv_grad(const float* dy, const Segments& seg, const Scales& sc, float* scaled) {
  if (!sc.sw) return dy;
  affine_rows(dy, scaled, seg, Scales{sc.E, nullptr, sc.sw, nullptr});
  return scaled;
}

size_t floats(int64_t n) { return static_cast<size_t>(n < 0 ? 0 : n) * sizeof(float); }

// The rows form's segments. Offsets live on the device with the other tensors (the model and the
// binding put them there), so no op reads them on the host.
Segments segments_of(const Tensor& offsets, int64_t rows) {
  AMAE_CHECK(offsets.dtype == DType::I32 && offsets.device == Device::CUDA,
             "patch_embed_rows (CUDA): offsets must be an Int32 device tensor");
  return Segments{offsets.i32(), offsets.numel() - 1, rows};
}

}  // namespace

void patch_embed_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                         const Tensor& y, int64_t p) {
  const Grid g(x, p);
  const int64_t P = g.P(), K = g.K(), E = w.dim(0);
  Workspace ws(Workspace::bytes_for({floats(P * K)}));
  float* patches = ws.take<float>(P * K);
  const Segments seg{nullptr, 1, P};
  for (int64_t n = 0; n < x.dim(0); ++n) {
    float* yn = y.f32() + n * P * E;
    extract(g, 1, x.f32() + n * g.C * g.hwd(), patches);
    sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, yn, E);
    const Scales sc = scales_of(b, sw, sb, E, n);
    if (sc.any()) affine_rows(yn, yn, seg, sc);
  }
}

void patch_embed_backward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb,
                          const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dsw,
                          const Tensor& dsb, int64_t p) {
  const Grid g(x, p);
  const int64_t P = g.P(), K = g.K(), E = w.dim(0);
  const bool need_patches = dw.data || dsw.data;
  const bool need_sums = db.data && b.data;
  const bool need_scaled = sw.data && (dw.data || dx.data);
  Workspace ws(Workspace::bytes_for({floats(P * K), floats(dsw.data ? P * E : 0), floats(need_scaled ? P * E : 0),
                                     floats(need_sums ? E : 0)}));
  // The patches, and later in each sample (once dw has used them) their gradient.
  float* patches = ws.take<float>(P * K);
  float* tokens = ws.take<float>(dsw.data ? P * E : 0);
  float* scaled = ws.take<float>(need_scaled ? P * E : 0);
  float* sums = ws.take<float>(need_sums ? E : 0);
  if (!dsw.data) tokens = nullptr;
  const Segments seg{nullptr, 1, P};
  for (int64_t n = 0; n < x.dim(0); ++n) {
    const float* gy = dy.f32() + n * P * E;
    const Scales sc = scales_of(b, sw, sb, E, n);
    if (need_patches) extract(g, 1, x.f32() + n * g.C * g.hwd(), patches);
    // The volume form keeps nothing from its forward: dsw's unscaled tokens are recomputed.
    if (tokens) sgemm(false, true, P, E, K, 1.0f, patches, K, w.f32(), K, 0.0f, tokens, E);
    channel_sums(gy, tokens, seg, sc, dsw.data ? dsw.f32() + n * E : nullptr, dsb.data ? dsb.f32() + n * E : nullptr,
                 db.data ? db.f32() : nullptr, sums);
    if (!dw.data && !dx.data) continue;
    const float* gc = conv_grad(gy, seg, sc, scaled);
    if (dw.data) sgemm(true, false, E, K, P, 1.0f, gc, E, patches, K, 1.0f, dw.f32(), K);
    if (dx.data) {
      // The patches are no longer needed (the stream runs the dw GEMM first): their buffer takes
      // their gradient.
      sgemm(false, false, P, K, E, 1.0f, gc, E, w.f32(), K, 0.0f, patches, K);
      scatter_add(g, 1, patches, dx.f32() + n * g.C * g.hwd());
    }
  }
}

void patchify_forward(const Tensor& x, const Tensor& patches, int64_t p) {
  extract(Grid(x, p), x.dim(0), x.f32(), patches.f32());
}

void patchify_backward(const Tensor& dpatches, const Tensor& dx, int64_t p) {
  scatter_add(Grid(dx, p), dx.dim(0), dpatches.f32(), dx.f32());
}

void patch_embed_rows_forward(const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b,
                              const Tensor& sw, const Tensor& sb, const Tensor& z, const Tensor& y) {
  const int64_t T = patches.dim(0), K = patches.dim(1), E = w.dim(0);
  AMAE_CHECK(w.numel() == E * K && y.numel() == T * E && (!z.data || z.numel() == T * E),
             "patch_embed_rows_forward: shapes disagree");
  const Segments seg = segments_of(offsets, T);
  float* out = z.data ? z.f32() : y.f32();
  sgemm(false, true, T, E, K, 1.0f, patches.f32(), K, w.f32(), K, 0.0f, out, E);
  const Scales sc = scales_of(b, sw, sb, E);
  if (sc.any() || z.data) affine_rows(out, y.f32(), seg, sc);
}

void patch_embed_rows_backward(const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b,
                               const Tensor& sw, const Tensor& sb, const Tensor& z, const Tensor& dy,
                               const Tensor& dpatches, const Tensor& dw, const Tensor& db, const Tensor& dsw,
                               const Tensor& dsb) {
  const int64_t T = patches.dim(0), K = patches.dim(1), E = w.dim(0);
  AMAE_CHECK(!dsw.data || z.data, "patch_embed_rows_backward: dsw needs the forward's z");
  const Segments seg = segments_of(offsets, T);
  const int64_t count = seg.count;
  const bool need_sums = db.data && b.data;
  const bool need_scaled = sw.data && (dw.data || dpatches.data);
  Workspace ws(Workspace::bytes_for({floats(need_sums ? count * E : 0), floats(need_scaled ? T * E : 0)}));
  float* sums = ws.take<float>(need_sums ? count * E : 0);
  float* scaled = ws.take<float>(need_scaled ? T * E : 0);
  const Scales sc = scales_of(b, sw, sb, E);
  channel_sums(dy.f32(), z.data ? z.f32() : nullptr, seg, sc, dsw.data ? dsw.f32() : nullptr,
               dsb.data ? dsb.f32() : nullptr, db.data ? db.f32() : nullptr, sums);
  if (!dw.data && !dpatches.data) return;
  const float* gc = conv_grad(dy.f32(), seg, sc, scaled);
  if (dw.data) sgemm(true, false, E, K, T, 1.0f, gc, E, patches.f32(), K, 1.0f, dw.f32(), K);
  if (dpatches.data) sgemm(false, false, T, K, E, 1.0f, gc, E, w.f32(), K, 1.0f, dpatches.f32(), K);
}

}  // namespace amae::cuda
