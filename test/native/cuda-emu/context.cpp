// HOST EMULATION of native/cuda/context.cu: the definitions behind the real context.cuh's host
// declarations (stream, Workspace, fail) and device.h's math mode, for the emulated kernels.
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

namespace {
Math g_math = Math::F32;
}
void set_math(Math m) { g_math = m; }
Math math() { return g_math; }

}  // namespace amae::cuda
