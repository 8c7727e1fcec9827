#include "memory.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "threads.h"

#ifdef AMAE_WITH_CUDA
#include "../cuda/device.h"
#endif

namespace amae::memory {
namespace {

// Bytes per task of a parallel zero-fill: enough to amortise a hand-off.
constexpr int64_t kZeroGrain = 1 << 20;

size_t bytes_of(const Tensor& t) { return static_cast<size_t>(t.numel()) * dtype_size(t.dtype); }

[[noreturn]] [[maybe_unused]] void no_cuda() { throw std::runtime_error("this build of amae has no CUDA backend (build with AMAE_CUDA=1)"); }

}  // namespace

void* alloc(Device d, size_t bytes) {
  if (d == Device::CUDA) {
#ifdef AMAE_WITH_CUDA
    return cuda::device_alloc(bytes);
#else
    no_cuda();
#endif
  }
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw std::runtime_error("out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

void release(Device d, void* p) {
  if (d == Device::CUDA) {
#ifdef AMAE_WITH_CUDA
    cuda::device_release(p);
#endif
    return;
  }
  std::free(p);
}

void copy(const Tensor& dst, const Tensor& src) {
  AMAE_CHECK(dst.dtype == src.dtype && dst.numel() == src.numel(),
             "memory::copy: " + dst.shape_str() + " " + dtype_name(dst.dtype) + " ← " + src.shape_str() + " " +
                 dtype_name(src.dtype));
  const size_t n = bytes_of(src);
  if (n == 0 || dst.data == src.data) return;
  if (dst.device == Device::CPU && src.device == Device::CPU) {
    std::memcpy(dst.data, src.data, n);
    return;
  }
#ifdef AMAE_WITH_CUDA
  cuda::device_copy(dst.data, dst.device == Device::CUDA, src.data, src.device == Device::CUDA, n);
#else
  no_cuda();
#endif
}

void zero(const Tensor& t) {
  const size_t n = bytes_of(t);
  if (n == 0) return;
  if (t.device == Device::CPU) {
    // A backward pass zeroes tens of MB of scratch gradients per block: one thread alone would
    // leave the others idle meanwhile.
    auto* p = static_cast<uint8_t*>(t.data);
    parallel_for(static_cast<int64_t>(n), kZeroGrain, [&](int64_t b, int64_t e) { std::memset(p + b, 0, e - b); });
    return;
  }
#ifdef AMAE_WITH_CUDA
  cuda::device_zero(t.data, n);
#else
  no_cuda();
#endif
}

void synchronize() {
#ifdef AMAE_WITH_CUDA
  cuda::device_synchronize();
#endif
}

}  // namespace amae::memory
