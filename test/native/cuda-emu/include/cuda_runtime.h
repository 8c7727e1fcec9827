// HOST EMULATION of the part of the CUDA runtime that amae's kernels use (test/native/cuda-emu,
// see run.sh). It stands in for the real <cuda_runtime.h>, so the real native/cuda/context.cuh is
// compiled as it is (its device helpers warp_sum/warp_max/block_sum/AMAE_CUDA_FOR/blocks_for are
// the real ones, not copies) and the real .cu files, with only their launches and __shared__
// declarations rewritten by sync.mjs.
//
// How kernels run: a launch runs its blocks one after the other, in a random order; a block runs
// each CUDA thread as a fiber on one host thread. A fiber runs until it reaches __syncthreads or a
// warp collective (shuffle, ballot, __syncwarp), then the scheduler picks another runnable fiber
// AT RANDOM (seeded, EMU_SEED), under a policy drawn per block: uniformly (warps advance
// together) or warp-greedy (one warp runs ahead through every phase it can). Between two
// synchronisation points the threads of a block thus run in scrambled orders, so code that needs
// a barrier it does not have tends to read a stale or poisoned value. Barriers are strict: a
// __syncthreads reached while another thread of the block has returned, or a full-mask shuffle
// with a lane missing, is reported as a bug (the hardware leaves both undefined).
//
// What is deliberately NOT emulated, so that it fails to compile instead of being faked: dynamic
// shared memory (extern __shared__), __constant__, textures, streams other than amae's one.
// Anything a kernel uses that is not below is a compile error: extend this file then.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- keywords -------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
// __shared__ is NOT a macro: sync.mjs rewrites each `__shared__ T name[...];` into a function-local
// static plus a registration (emu::Shared) that poisons it before every block. Static storage is
// right only because blocks run one at a time here; on the GPU each block has its own copy.

// ---- types ----------------------------------------------------------------------------------
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
constexpr int warpSize = 32;

struct CUstream_st;
typedef CUstream_st* cudaStream_t;
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
};
typedef cudaError_t cudaError;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

// The built-in variables: the scheduler sets threadIdx before it resumes a fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

namespace emu {

// ---- device memory ----------------------------------------------------------------------------
// Every device allocation (test tensors, Workspace scratch, CUB's temp storage) comes from one
// reserved range, 256-byte aligned like cudaMalloc, filled with 0xFF bytes (NaN as float or
// double, −1 as int) and surrounded by ASan-poisoned bytes, so a kernel reading or writing past a
// buffer (or into a freed one) is reported by ASan with its stack. Outside kernels and the
// emulated copies the range is PROT_NONE: host code of an op that dereferences device memory
// (which would crash or read garbage on the GPU) crashes here too, at the offending line.
void* dev_alloc(size_t bytes);
void dev_free(void* p);
// Whether [p, p + bytes) lies inside one device allocation (one-past-the-end allowed).
bool is_device(const void* p, size_t bytes = 0);
// Scratch: the emulated Workspace poisons all of its bytes (ASan) and sync.mjs makes
// Workspace::take unpoison each part it hands out, so a kernel overrunning one part into the
// alignment gap before the next is reported.
void scratch_poison(void* p, size_t bytes);
void scratch_part(void* p, size_t bytes);
// While one exists, device memory is readable and writable from the host (kernels, emulated
// copies, the test harness's uploads and downloads). Nests.
struct DeviceAccess {
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;
};

// Reports a bug found by the emulation ("FAIL emu: ...") and aborts: used where unwinding is not
// possible (inside a fiber).
[[noreturn]] void die(const std::string& what);

// ---- launches ---------------------------------------------------------------------------------
// The grid-size caps in the kernels' host code (65535, the CUDA limit for grid.y/z) are rewritten
// by sync.mjs into EMU_GRID_CAP: 65535 normally, 2 with EMU_SMALL=1 so grid-stride loops and
// chunk-size growth run on small shapes.
extern int grid_cap;
#define EMU_GRID_CAP (::emu::grid_cap)

extern cudaError_t last_error;
// Checks a launch against the hardware limits (throws std::runtime_error naming the kernel).
void check_launch(const char* name, dim3 grid, dim3 block, size_t shmem, size_t param_bytes);
void check_pointer_arg(const char* name, int index, const void* p);
// Runs every block of the grid; body() is one CUDA thread's call of the kernel.
void run_grid(const char* name, dim3 grid, dim3 block, const std::function<void()>& body);
extern long long launches, threads_run;

template <class T>
void check_arg(const char* name, int index, const T& v) {
  if constexpr (std::is_pointer_v<T>) check_pointer_arg(name, index, static_cast<const void*>(v));
}

// kernel<<<grid, block, shmem, stream>>>(args...) becomes
// emu::launch("kernel", grid, block, shmem, stream, kernel, args...) (sync.mjs). The arguments are
// converted to the kernel's parameter types once, as a launch does; every thread then gets its
// own copy of the parameters. Pointer arguments must be device memory (or null).
template <class... P, class... A>
void launch(const char* name, dim3 grid, dim3 block, size_t shmem, cudaStream_t, void (*kernel)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "emu::launch: wrong number of kernel arguments");
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  check_launch(name, grid, block, shmem, (size_t(0) + ... + sizeof(std::decay_t<P>)));
  int i = 0;
  std::apply([&](const auto&... p) { (check_arg(name, i++, p), ...); }, params);
  run_grid(name, grid, block, [&] {
    std::apply([&](const auto&... p) { kernel(p...); }, params);
  });
}

// First statement of a kernel declared with __launch_bounds__(X) (sync.mjs): a block of more than
// X threads would fail to launch on the GPU.
void launch_bounds(int max_threads);

// ---- __shared__ -------------------------------------------------------------------------------
// One per __shared__ variable (a function-local static, constructed the first time a thread
// reaches the declaration): registers the variable so that it is filled with 0xFF bytes before
// every block (a block that reads shared memory it did not write this time reads NaN, not the
// previous block's values), and poisons it now.
struct Shared {
  Shared(void* p, size_t bytes);
};

// ---- warp collectives and barriers ------------------------------------------------------------
enum class WarpOp { Sync, Idx, Up, Down, Xor, Ballot, Any, All };
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
void syncthreads();

template <class T>
T shfl(WarpOp op, unsigned mask, T v, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of an unsupported type");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_collective(op, mask, bits, arg, width);
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}

}  // namespace emu

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::warp_collective(emu::WarpOp::Sync, mask, 0, 0, 32); }
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) { return emu::shfl(emu::WarpOp::Idx, mask, v, src, width); }
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) { return emu::shfl(emu::WarpOp::Up, mask, v, int(d), width); }
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) { return emu::shfl(emu::WarpOp::Down, mask, v, int(d), width); }
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) { return emu::shfl(emu::WarpOp::Xor, mask, v, m, width); }
inline unsigned __ballot_sync(unsigned mask, int p) { return unsigned(emu::warp_collective(emu::WarpOp::Ballot, mask, p != 0, 0, 32)); }
inline int __any_sync(unsigned mask, int p) { return int(emu::warp_collective(emu::WarpOp::Any, mask, p != 0, 0, 32)); }
inline int __all_sync(unsigned mask, int p) { return int(emu::warp_collective(emu::WarpOp::All, mask, p != 0, 0, 32)); }

// ---- atomics: fibers never interleave inside a call, so a plain read-modify-write is atomic ----
template <class T> T atomicAdd(T* p, T v) { const T old = *p; *p = old + v; return old; }
template <class T> T atomicMax(T* p, T v) { const T old = *p; *p = old < v ? v : old; return old; }
template <class T> T atomicMin(T* p, T v) { const T old = *p; *p = v < old ? v : old; return old; }
template <class T> T atomicExch(T* p, T v) { const T old = *p; *p = v; return old; }
template <class T> T atomicCAS(T* p, T cmp, T v) { const T old = *p; if (old == cmp) *p = v; return old; }

// ---- device functions ------------------------------------------------------------------------
// CUDA's integer/float min and max overloads (any two arithmetic types, as their common type).
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
constexpr std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
constexpr std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }
template <class T> T __ldg(const T* p) { return *p; }
// The fast-math intrinsics are approximations on the GPU; exact here (a parity gap the GPU run
// must measure, not this emulation).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }

// ---- runtime API ------------------------------------------------------------------------------
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
// Run at once (everything is synchronous here); kinds are checked against where the pointers are.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
