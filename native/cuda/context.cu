// The CUDA backend's one piece of process state: the selected device, its stream, the scratch
// workspace and the math mode. Everything is created on first use, so a build with CUDA loads
// and runs its CPU paths on a machine without a GPU.
#include <atomic>
#include <string>

#include "context.cuh"

namespace amae::cuda {
namespace {

struct State {
  std::mutex mutex;  // guards the fields below
  int device = 0;
  cudaStream_t stream = nullptr;
  std::mutex workspace_mutex;  // held by a Workspace for one op's enqueueing
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};
State& state() {
  static State* s = new State;  // never destroyed: kernels may still be queued at exit
  return *s;
}
std::atomic<Math> g_math{Math::BF16};
thread_local int t_current = -1;  // the device made current on this thread

std::string mib(size_t b) { return std::to_string(b >> 20) + " MiB"; }

}  // namespace

void fail(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so the next op reports its own
  throw std::runtime_error(std::string("CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
                           "): " + cudaGetErrorString(err));
}

cudaStream_t stream() {
  State& s = state();
  std::lock_guard<std::mutex> g(s.mutex);
  if (t_current != s.device) {
    AMAE_CUDA_CHECK(cudaSetDevice(s.device));
    t_current = s.device;
  }
  if (!s.stream) AMAE_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  return s.stream;
}

Workspace::Workspace(size_t bytes) : lock_(state().workspace_mutex), bytes_(bytes) {
  State& s = state();
  if (bytes > s.workspace_bytes) {
    if (s.workspace) {
      // The old scratch may still be read by queued kernels: let them finish first.
      AMAE_CUDA_CHECK(cudaStreamSynchronize(stream()));
      AMAE_CUDA_CHECK(cudaFree(s.workspace));
      s.workspace = nullptr;
      s.workspace_bytes = 0;
    }
    s.workspace = device_alloc(bytes);
    s.workspace_bytes = bytes;
  }
  base_ = s.workspace;
}

Workspace::~Workspace() = default;

DeviceInfo device_info() {
  DeviceInfo info;
  cudaError_t err = cudaGetDeviceCount(&info.count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    info.reason = std::string("CUDA is not usable here: ") + cudaGetErrorString(err);
    return info;
  }
  if (info.count == 0) {
    info.reason = "no CUDA device";
    return info;
  }
  State& s = state();
  {
    std::lock_guard<std::mutex> g(s.mutex);
    info.index = s.device;
  }
  cudaDeviceProp p{};
  err = cudaGetDeviceProperties(&p, info.index);
  if (err != cudaSuccess) {
    cudaGetLastError();
    info.reason = std::string("cannot query CUDA device ") + std::to_string(info.index) + ": " + cudaGetErrorString(err);
    return info;
  }
  info.name = p.name;
  info.major = p.major;
  info.minor = p.minor;
  info.multiprocessors = p.multiProcessorCount;
  // Query without creating the backend's stream, so that a later select_device() still works.
  err = cudaSetDevice(info.index);
  if (err == cudaSuccess) {
    t_current = info.index;
    err = cudaMemGetInfo(&info.free_memory, &info.total_memory);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    info.reason = std::string("CUDA device ") + std::to_string(info.index) + " is not usable: " + cudaGetErrorString(err);
    return info;
  }
#ifdef AMAE_WITH_CUBLAS
  info.cublas = true;
#endif
  info.available = true;
  return info;
}

void select_device(int index) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("CUDA is not usable here: ") + cudaGetErrorString(err));
  }
  if (index < 0 || index >= count)
    throw std::runtime_error("CUDA device " + std::to_string(index) + " does not exist (" + std::to_string(count) +
                             " device" + (count == 1 ? "" : "s") + " found)");
  State& s = state();
  std::lock_guard<std::mutex> g(s.mutex);
  if (s.device == index) return;
  AMAE_CHECK(s.stream == nullptr && s.workspace == nullptr,
             "the CUDA device must be selected before its first use");
  s.device = index;
}

void* device_alloc(size_t bytes) {
  stream();
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    throw std::runtime_error("CUDA out of memory allocating " + mib(bytes) + " (" + mib(free) + " free of " +
                             mib(total) + ")");
  }
  AMAE_CUDA_CHECK(err);
  return p;
}

void device_release(void* p) {
  // Freed memory may still be used by queued kernels; cudaFree waits for the device, as needed.
  cudaFree(p);
}

void device_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  cudaStream_t s = stream();
  AMAE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
  // Host memory is pageable and owned by the caller, who may reuse it at once: wait for any copy
  // that touches it.
  if (!dst_on_device || !src_on_device) AMAE_CUDA_CHECK(cudaStreamSynchronize(s));
}

void device_zero(void* p, size_t bytes) { AMAE_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream())); }

void device_synchronize() {
  State& s = state();
  {
    std::lock_guard<std::mutex> g(s.mutex);
    if (!s.stream) return;  // nothing was ever queued
  }
  AMAE_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void set_math(Math m) { g_math.store(m); }
Math math() { return g_math.load(); }

}  // namespace amae::cuda
