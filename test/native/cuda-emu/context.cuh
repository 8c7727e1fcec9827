// HOST EMULATION of native/cuda/context.cuh (see run.sh): the same surface, with kernels run
// on std::threads and device memory being host memory.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>
#include "../core/tensor.h"
#include "device.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__
#define __launch_bounds__(x)
#define __align__(n) __attribute__((aligned(n)))

struct dim3 { unsigned x = 1, y = 1, z = 1; dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
struct float4 { float x, y, z, w; };
typedef void* cudaStream_t;
typedef int cudaError_t;
constexpr int cudaSuccess = 0;
enum cudaMemcpyKind { cudaMemcpyHostToDevice };
inline cudaError_t cudaGetLastError() { return 0; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) { std::memcpy(d, s, n); return 0; }

namespace emu {
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline float shfl_buf[1024];
inline thread_local int tid_linear;

template <class F, class... A>
void launch(dim3 grid, dim3 block, F f, A... args) {
  blockDim = block; gridDim = grid;
  const int nt = block.x * block.y * block.z;
  if (nt % 32) throw std::runtime_error("emu: block not a multiple of 32");
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> bar(nt);
        block_barrier = &bar;
        warp_barriers.clear();
        for (int w = 0; w < nt / 32; ++w) warp_barriers.emplace_back(new std::barrier<>(32));
        std::vector<std::thread> ts;
        for (int t = 0; t < nt; ++t)
          ts.emplace_back([&, t] {
            tid_linear = t;
            threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
            blockIdx = dim3(bx, by, bz);
            f(args...);
            // a thread that returns leaves its warp's barrier (lets the others continue)
            warp_barriers[t / 32]->arrive_and_drop();
            block_barrier->arrive_and_drop();
          });
        for (auto& t : ts) t.join();
      }
}
}  // namespace emu
using emu::threadIdx; using emu::blockIdx; using emu::blockDim; using emu::gridDim;
inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
  const int t = emu::tid_linear;
  emu::warp_barriers[t / 32]->arrive_and_wait();
  emu::shfl_buf[t] = v;
  emu::warp_barriers[t / 32]->arrive_and_wait();
  return emu::shfl_buf[t ^ o];
}

namespace amae::cuda {
#define AMAE_CUDA_CHECK(call) do { (void)(call); } while (0)
#define AMAE_CUDA_LAUNCHED() do {} while (0)
inline cudaStream_t stream() { return nullptr; }
class Workspace {
 public:
  explicit Workspace(size_t bytes) : lock_(m()), bytes_(bytes) { base_ = std::malloc(bytes ? bytes : 1); std::memset(base_, 0xff, bytes); }
  ~Workspace() { std::free(base_); }
  template <class T> T* take(int64_t count) {
    const size_t at = (used_ + 255) / 256 * 256;
    used_ = at + static_cast<size_t>(count) * sizeof(T);
    AMAE_CHECK(used_ <= bytes_, "cuda::Workspace: a part exceeds the size asked for");
    return reinterpret_cast<T*>(static_cast<char*>(base_) + at);
  }
  static size_t bytes_for(std::initializer_list<size_t> part_bytes) { size_t n = 0; for (size_t b : part_bytes) n += (b + 255) / 256 * 256; return n; }
 private:
  static std::mutex& m() { static std::mutex mu; return mu; }
  std::unique_lock<std::mutex> lock_;
  void* base_ = nullptr; size_t bytes_ = 0, used_ = 0;
};
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}
#define AMAE_CUDA_FOR(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
inline float warp_sum(float v) { for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o); return v; }
inline Math math() { return Math::F32; }
}  // namespace amae::cuda
