// CUDA data movement on token sequences (native/ops/sequence.h), mirroring
// native/cpu/sequence.cpp. Backward ops ADD into their gradients and skip an absent one
// (data == nullptr).
//
// The scatter-adds (embed_add_backward into the position / modality tables, gather_rows_backward)
// may send many tokens to one row: the decoder's mask token, every token of a modality. They are
// deterministic without float atomics: a stable radix sort (CUB) groups the tokens by
// destination row while keeping ascending t within a row, and one thread per (row, column) then
// adds the row's tokens in that order into a register that starts from the old value, which is
// exactly the CPU's order of additions, so the sums match it bit for bit.
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "../ops/sequence.h"
#include "context.cuh"

namespace amae::cuda {

namespace {

// y[n, off + j] = src[n, j] for j < cs·v: copies one input's channel block [cs·v] of each sample
// into its place in the output row of c·v values (off = 0 for a, ca·v for b).
__global__ void concat_copy_kernel(const float* src, float* y, int64_t n_total, int64_t src_row, int64_t y_row,
                                   int64_t off) {
  AMAE_CUDA_FOR(i, n_total) {
    const int64_t n = i / src_row, j = i % src_row;
    y[n * y_row + off + j] = src[i];
  }
}

// The transpose of concat_copy_kernel: dst[n, j] += dy[n, off + j].
__global__ void concat_accumulate_kernel(const float* dy, float* dst, int64_t n_total, int64_t dst_row,
                                         int64_t dy_row, int64_t off) {
  AMAE_CUDA_FOR(i, n_total) {
    const int64_t n = i / dst_row, j = i % dst_row;
    dst[i] += dy[n * dy_row + off + j];
  }
}

__global__ void embed_add_forward_kernel(const float* x, const float* pos, const float* mod, const int32_t* pi,
                                         const int32_t* mi, float* y, int64_t n_total, int64_t e_n) {
  AMAE_CUDA_FOR(i, n_total) {
    const int64_t t = i / e_n, c = i % e_n;
    // Summed in the header's order: (x + pos) + mod.
    y[i] = (x[i] + pos[int64_t(pi[t]) * e_n + c]) + mod[int64_t(mi[t]) * e_n + c];
  }
}

__global__ void accumulate_kernel(const float* src, float* dst, int64_t n) {
  AMAE_CUDA_FOR(i, n) dst[i] += src[i];
}

__global__ void gather_rows_forward_kernel(const float* x, const int32_t* index, float* y, int64_t n_total,
                                           int64_t width) {
  AMAE_CUDA_FOR(i, n_total) {
    const int64_t t = i / width, j = i % width;
    y[i] = x[int64_t(index[t]) * width + j];
  }
}

// y[n, e, q] = x[n, q, e] (Add: y += ...), one thread per output element: writes coalesced, reads
// strided by E (the ViT states are small next to the decoder's volumes, so a tiled transpose is
// not worth its shared memory here).
template <bool Add>
__global__ void transpose_samples_kernel(const float* x, float* y, int64_t n_total, int64_t rows, int64_t cols) {
  AMAE_CUDA_FOR(i, n_total) {
    const int64_t n = i / (rows * cols), c = i / rows % cols, r = i % rows;
    const float v = x[(n * rows + r) * cols + c];
    if constexpr (Add)
      y[i] += v;
    else
      y[i] = v;
  }
}

__global__ void iota_kernel(int32_t* v, int n) {
  AMAE_CUDA_FOR(i, n) v[i] = static_cast<int32_t>(i);
}

// The scatter after the sort: rows[k] is the k-th smallest destination row, tok[k] its token,
// tokens of one row contiguous and in ascending t. Thread (k, c) works only if k starts its
// row's run; it then adds the run's tokens, in order, onto dst[row, c]. Runs are disjoint, so
// every dst element has at most one writer.
constexpr int kScatterCols = 32;  // threadIdx.x: consecutive columns, coalesced
constexpr int kScatterRuns = 8;   // threadIdx.y: sorted positions per block
__global__ void scatter_sorted_kernel(const uint32_t* rows, const int32_t* tok, int64_t tokens, const float* src,
                                      float* dst, int64_t width) {
  const int64_t c = blockIdx.x * int64_t(kScatterCols) + threadIdx.x;
  if (c >= width) return;
  for (int64_t k = blockIdx.y * int64_t(kScatterRuns) + threadIdx.y; k < tokens;
       k += int64_t(gridDim.y) * kScatterRuns) {
    const uint32_t r = rows[k];
    if (k > 0 && rows[k - 1] == r) continue;  // not the start of a run
    int64_t end = k + 1;  // one past the run: a scan of cached, block-uniform loads
    while (end < tokens && rows[end] == r) ++end;
    float* d = dst + int64_t(r) * width + c;
    float acc = *d;
    int64_t j = k;
    // A long run (the mask token's row) would wait on one load per token; four loads are issued
    // before their adds, which still happen one by one in ascending t.
    for (; j + 4 <= end; j += 4) {
      const float s0 = src[int64_t(tok[j]) * width + c], s1 = src[int64_t(tok[j + 1]) * width + c];
      const float s2 = src[int64_t(tok[j + 2]) * width + c], s3 = src[int64_t(tok[j + 3]) * width + c];
      acc += s0;
      acc += s1;
      acc += s2;
      acc += s3;
    }
    for (; j < end; ++j) acc += src[int64_t(tok[j]) * width + c];
    *d = acc;
  }
}

// dst[index[t]] += src[t] for rows of `width` floats, t < tokens, every index in [0, dst_rows).
// Deterministic (see the top of the file).
void scatter_add_rows(const int32_t* index, int64_t tokens, const float* src, float* dst, int64_t dst_rows,
                      int64_t width) {
  if (tokens == 0 || width == 0) return;
  AMAE_CHECK(tokens <= INT_MAX, "scatter_add_rows: too many tokens for one sort");
  AMAE_CHECK(dst_rows >= 1, "scatter_add_rows: no destination rows");
  const int n = static_cast<int>(tokens);
  // First, so the backend's device is current on this thread when CUB sizes its scratch for it.
  cudaStream_t s = stream();
  // Indices are non-negative, so their bits read as unsigned sort the same; only the bits that
  // can be set (rows < 2^bits) take part, which saves radix passes.
  int bits = 1;
  while (bits < 32 && (int64_t(1) << bits) < dst_rows) ++bits;
  const uint32_t* keys_in = reinterpret_cast<const uint32_t*>(index);
  size_t temp_bytes = 0;
  // With a null temp pointer CUB only reports the size it needs; nothing is launched.
  AMAE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, static_cast<uint32_t*>(nullptr),
                                                  static_cast<const int32_t*>(nullptr),
                                                  static_cast<int32_t*>(nullptr), n, 0, bits));
  const size_t n_bytes = sizeof(int32_t) * static_cast<size_t>(n);
  Workspace ws(Workspace::bytes_for({n_bytes, n_bytes, n_bytes, temp_bytes}));
  int32_t* tok_in = ws.take<int32_t>(n);
  uint32_t* rows_sorted = ws.take<uint32_t>(n);
  int32_t* tok_sorted = ws.take<int32_t>(n);
  void* temp = ws.take<char>(static_cast<int64_t>(temp_bytes));
  iota_kernel<<<blocks_for(n), kThreads, 0, s>>>(tok_in, n);
  AMAE_CUDA_LAUNCHED();
  // LSD radix sort is stable: equal rows keep the ascending token order of tok_in.
  AMAE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, rows_sorted, tok_in, tok_sorted, n, 0,
                                                  bits, s));
  const int64_t runs_blocks = (tokens + kScatterRuns - 1) / kScatterRuns;
  const dim3 grid(static_cast<unsigned>((width + kScatterCols - 1) / kScatterCols),
                  static_cast<unsigned>(runs_blocks < 65535 ? runs_blocks : 65535));
  scatter_sorted_kernel<<<grid, dim3(kScatterCols, kScatterRuns), 0, s>>>(rows_sorted, tok_sorted, tokens, src, dst,
                                                                          width);
  AMAE_CUDA_LAUNCHED();
}

}  // namespace

void concat_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  const int64_t ca = a.dim(1), cb = b.dim(1), c = ca + cb, v = y.stride(1), n = y.dim(0);
  if (v == 0 || n == 0) return;
  cudaStream_t s = stream();
  // Each input's samples are one contiguous block [C_in·v] that lands at a fixed offset of the
  // output sample [c·v]: a at 0, b after a's ca·v values. An empty side (C_in = 0) copies nothing
  // and its (possibly null) data is never touched.
  if (ca > 0) {
    concat_copy_kernel<<<blocks_for(n * ca * v), kThreads, 0, s>>>(a.f32(), y.f32(), n * ca * v, ca * v, c * v, 0);
    AMAE_CUDA_LAUNCHED();
  }
  if (cb > 0) {
    concat_copy_kernel<<<blocks_for(n * cb * v), kThreads, 0, s>>>(b.f32(), y.f32(), n * cb * v, cb * v, c * v,
                                                                   ca * v);
    AMAE_CUDA_LAUNCHED();
  }
}

void concat_backward(const Tensor& dy, const Tensor& da, const Tensor& db) {
  if (!da.data && !db.data) return;
  const int64_t c = dy.dim(1), ca = da.data ? da.dim(1) : c - db.dim(1), cb = c - ca, v = dy.stride(1),
                n = dy.dim(0);
  if (v == 0 || n == 0) return;
  cudaStream_t s = stream();
  if (da.data && ca > 0) {
    concat_accumulate_kernel<<<blocks_for(n * ca * v), kThreads, 0, s>>>(dy.f32(), da.f32(), n * ca * v, ca * v,
                                                                         c * v, 0);
    AMAE_CUDA_LAUNCHED();
  }
  if (db.data && cb > 0) {
    concat_accumulate_kernel<<<blocks_for(n * cb * v), kThreads, 0, s>>>(dy.f32(), db.f32(), n * cb * v, cb * v,
                                                                         c * v, ca * v);
    AMAE_CUDA_LAUNCHED();
  }
}

void embed_add_forward(const Tensor& x, const Tensor& pos, const Tensor& mod, const Tensor& pos_index,
                       const Tensor& mod_index, const Tensor& y) {
  const int64_t e_n = x.dim(1), n = x.dim(0) * e_n;
  if (n == 0) return;
  embed_add_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), pos.f32(), mod.f32(), pos_index.i32(),
                                                                     mod_index.i32(), y.f32(), n, e_n);
  AMAE_CUDA_LAUNCHED();
}

void embed_add_backward(const Tensor& pos_index, const Tensor& mod_index, const Tensor& dy, const Tensor& dx,
                        const Tensor& dpos, const Tensor& dmod) {
  const int64_t tokens = dy.dim(0), e_n = dy.dim(1);
  if (tokens == 0 || e_n == 0) return;
  if (dx.data) {
    accumulate_kernel<<<blocks_for(tokens * e_n), kThreads, 0, stream()>>>(dy.f32(), dx.f32(), tokens * e_n);
    AMAE_CUDA_LAUNCHED();
  }
  if (dpos.data) scatter_add_rows(pos_index.i32(), tokens, dy.f32(), dpos.f32(), dpos.dim(0), e_n);
  if (dmod.data) scatter_add_rows(mod_index.i32(), tokens, dy.f32(), dmod.f32(), dmod.dim(0), e_n);
}

void gather_rows_forward(const Tensor& x, const Tensor& index, const Tensor& y) {
  const int64_t width = x.stride(0), n = y.dim(0) * width;
  if (n == 0) return;
  gather_rows_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), index.i32(), y.f32(), n, width);
  AMAE_CUDA_LAUNCHED();
}

void gather_rows_backward(const Tensor& index, const Tensor& dy, const Tensor& dx) {
  scatter_add_rows(index.i32(), dy.dim(0), dy.f32(), dx.f32(), dx.dim(0), dx.stride(0));
}

void tokens_to_volume_forward(const Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  transpose_samples_kernel<false><<<blocks_for(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), n, x.dim(1), x.dim(2));
  AMAE_CUDA_LAUNCHED();
}

void tokens_to_volume_backward(const Tensor& dy, const Tensor& dx) {
  const int64_t n = dx.numel();
  if (n == 0) return;
  // dx [N, P, E] is written element by element from dy read as [N, E, P].
  transpose_samples_kernel<true><<<blocks_for(n), kThreads, 0, stream()>>>(dy.f32(), dx.f32(), n, dx.dim(2), dx.dim(1));
  AMAE_CUDA_LAUNCHED();
}

}  // namespace amae::cuda
