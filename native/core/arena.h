// Bump allocator for activations and scratch. A training step allocates its activations from an
// Arena and calls reset() at the end; after the first step the blocks are large enough and no
// further system allocation happens. reset() keeps the largest block and frees the others, so
// a one-off big step does not pin fragmented memory forever.
// An Arena lives on one device (memory::alloc): its tensors are views of that device's memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory.h"
#include "tensor.h"

namespace amae {

class Arena {
 public:
  static constexpr size_t kAlign = 64;  // one cache line, one AVX-512 register

  explicit Arena(Device device = Device::CPU) : device_(device) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes);
  // A zero-filled tensor of the given shape.
  Tensor zeros(std::initializer_list<int64_t> dims, DType t = DType::F32);
  // An uninitialised tensor of the given shape.
  Tensor empty(std::initializer_list<int64_t> dims, DType t = DType::F32);
  void reset();

  Device device() const { return device_; }
  size_t used() const { return used_; }
  size_t capacity() const;
  size_t peak() const { return peak_; }

 private:
  struct Block {
    memory::Buffer mem;
    size_t offset;
  };
  Device device_;
  std::vector<Block> blocks_;
  size_t used_ = 0;
  size_t peak_ = 0;
};

}  // namespace amae
