// HOST EMULATION of native/cuda/context.cu: the definitions behind the real context.cuh's host
// declarations (stream, Workspace, fail) and device.h's math mode and device memory (what
// native/core/memory.cpp calls with AMAE_WITH_CUDA: the whole-model check, model.test.cpp), for
// the emulated kernels.
#include <mutex>
#include <stdexcept>
#include <string>

#include "native/cuda/context.cuh"

namespace amae::cuda {

void fail(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();
  throw std::runtime_error(std::string("CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
                           "): " + cudaGetErrorString(err));
}

cudaStream_t stream() {
  static char the_stream;
  return reinterpret_cast<cudaStream_t>(&the_stream);
}

namespace {
std::mutex& workspace_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

// Unlike the real one (one growing buffer shared by all ops), every Workspace is a fresh device
// allocation of exactly the size asked for, poisoned with 0xFF bytes (NaN): an op that reads
// scratch it did not write in this call, or past what it asked for, is caught (the first by the
// comparison with the CPU, the second by ASan, as is a part overrunning into the gap before the
// next).
// Its bytes start poisoned for ASan; each part take() hands out is unpoisoned (see sync.mjs).
Workspace::Workspace(size_t bytes) : lock_(workspace_mutex()), bytes_(bytes) {
  base_ = emu::dev_alloc(bytes);
  emu::scratch_poison(base_, bytes);
}

Workspace::~Workspace() { emu::dev_free(base_); }

// Device memory as context.cu does it, on the emulated runtime: allocations are emu::dev_alloc
// (NaN-filled, redzoned, PROT_NONE to host code), copies go through cudaMemcpyAsync with the kind
// context.cu derives (the emulated one aborts when the kind does not match where the pointers
// really live, or when a range runs past an allocation), zeroing through cudaMemsetAsync.
void* device_alloc(size_t bytes) { return emu::dev_alloc(bytes ? bytes : 1); }
void device_release(void* p) { emu::dev_free(p); }
void device_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                            : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  AMAE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
}
void device_zero(void* p, size_t bytes) { AMAE_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream())); }
void device_synchronize() { AMAE_CUDA_CHECK(cudaStreamSynchronize(stream())); }

namespace {
Math g_math = Math::F32;
}
void set_math(Math m) { g_math = m; }
Math math() { return g_math; }

}  // namespace amae::cuda
