// What every CUDA op file shares: the backend's stream, its scratch workspace, error checks and
// launch arithmetic. Ops enqueue on stream() and return; host reads synchronise (device.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "../core/tensor.h"
#include "device.h"

namespace amae::cuda {

// Throws std::runtime_error "CUDA error in <what> (<file>:<line>): <CUDA's message>".
[[noreturn]] void fail(cudaError_t err, const char* what, const char* file, int line);

#define AMAE_CUDA_CHECK(call)                                                       \
  do {                                                                              \
    const cudaError_t amae_err_ = (call);                                           \
    if (amae_err_ != cudaSuccess) ::amae::cuda::fail(amae_err_, #call, __FILE__, __LINE__); \
  } while (0)
// After every kernel launch: a bad configuration shows up here, not at the next sync.
#define AMAE_CUDA_LAUNCHED() AMAE_CUDA_CHECK(cudaGetLastError())

// The stream of the selected device, with that device made current on the calling thread
// (Node runs ops on several worker threads; the current device is per thread in CUDA).
cudaStream_t stream();

// Scratch device memory for one op's launches. Holding a Workspace keeps every other op from
// taking the same bytes until this op has enqueued all its kernels; the stream then runs them
// in order. It grows (one cudaMalloc) only when an op needs more than any op before it.
class Workspace {
 public:
  explicit Workspace(size_t bytes);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  // The scratch, split into consecutive 256-byte aligned parts.
  template <class T>
  T* take(int64_t count) {
    const size_t at = (used_ + 255) / 256 * 256;
    used_ = at + static_cast<size_t>(count) * sizeof(T);
    AMAE_CHECK(used_ <= bytes_, "cuda::Workspace: a part exceeds the size asked for");
    return reinterpret_cast<T*>(static_cast<char*>(base_) + at);
  }
  // What take() needs for these parts, alignment included.
  static size_t bytes_for(std::initializer_list<size_t> part_bytes) {
    size_t n = 0;
    for (size_t b : part_bytes) n += (b + 255) / 256 * 256;
    return n;
  }

 private:
  std::unique_lock<std::mutex> lock_;
  void* base_ = nullptr;
  size_t bytes_ = 0, used_ = 0;
};

constexpr int kThreads = 256;  // the default block size of elementwise kernels

// Blocks for n elements at `threads` per block, capped so a grid-stride loop covers the rest.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}

// Grid-stride loop over [0, n).
#define AMAE_CUDA_FOR(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the block (blockDim.x a multiple of 32, ≤ 1024) in T (float, or double where a
// reduction must not lose digits); every thread gets the total. The order is fixed by the block
// shape, so results are reproducible run to run.
template <class T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T partial[32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x >> 5) ? partial[lane] : T(0);
  return warp_sum(v);
}

}  // namespace amae::cuda
