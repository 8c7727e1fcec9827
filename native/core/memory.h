// Memory on either device, behind one interface: the only place outside a backend that knows
// where bytes live. Owners (Arena, ParamStore, the binding) allocate through it; ops never do.
// CUDA copies and fills are ordered on the backend's one stream; a copy to the CPU waits for it.
#pragma once
#include <cstddef>

#include "tensor.h"

namespace amae::memory {

// 64-byte aligned (CPU) or cudaMalloc'ed (CUDA) bytes; never nullptr (throws, naming the size).
void* alloc(Device d, size_t bytes);
void release(Device d, void* p);
// dst ← src, element for element (same dtype and element count, any pair of devices).
void copy(const Tensor& dst, const Tensor& src);
// Every byte of t ← 0.
void zero(const Tensor& t);
// Waits until every queued CUDA operation is done (a no-op without CUDA).
void synchronize();

// Owning buffer of bytes on one device, freed with it.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Device d, size_t bytes) : device_(d), bytes_(bytes), data_(bytes ? alloc(d, bytes) : nullptr) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer(std::move(o)).swap(*this);
    return *this;
  }
  ~Buffer() {
    if (data_) release(device_, data_);
  }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void swap(Buffer& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(bytes_, o.bytes_);
    std::swap(data_, o.data_);
  }
  Device device_ = Device::CPU;
  size_t bytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace amae::memory
