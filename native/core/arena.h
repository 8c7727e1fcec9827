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

  // A point to roll back to: release(m) frees everything allocated after mark() returned m, so a
  // backward pass can hand its scratch gradients back block by block (LIFO) instead of holding
  // every one of them until reset(). Tensors allocated before the mark stay valid.
  struct Mark {
    size_t blocks, offset, used;
  };
  Mark mark() const { return {blocks_.size(), blocks_.empty() ? 0 : blocks_.back().offset, used_}; }
  void release(const Mark& m);

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
  size_t round_peak_ = 0;  // the most in use at once since the last reset()
};

}  // namespace amae
