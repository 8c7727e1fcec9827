#include "arena.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace amae {
namespace {

uint8_t* aligned_block(size_t bytes) {
  void* p = std::aligned_alloc(Arena::kAlign, (bytes + Arena::kAlign - 1) / Arena::kAlign * Arena::kAlign);
  if (!p) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}
void free_block(uint8_t* p) { std::free(p); }

}  // namespace

void* Arena::alloc(size_t bytes) {
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (blocks_.empty() || blocks_.back().offset + bytes > blocks_.back().size) {
    // Grow geometrically so a step's worth of activations settles into a few blocks.
    const size_t size = std::max<size_t>({bytes, size_t(1) << 20, capacity()});
    blocks_.push_back(Block{{aligned_block(size), free_block}, size, 0});
  }
  Block& b = blocks_.back();
  void* p = b.mem.get() + b.offset;
  b.offset += bytes;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return p;
}

Tensor Arena::empty(std::initializer_list<int64_t> dims, DType t) {
  Tensor x(nullptr, dims, t);
  x.data = alloc(static_cast<size_t>(x.numel()) * dtype_size(t));
  return x;
}

Tensor Arena::zeros(std::initializer_list<int64_t> dims, DType t) {
  Tensor x = empty(dims, t);
  std::memset(x.data, 0, static_cast<size_t>(x.numel()) * dtype_size(t));
  return x;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // Replace the chain by one block big enough for everything the last round used.
    const size_t need = capacity();
    blocks_.clear();
    blocks_.push_back(Block{{aligned_block(need), free_block}, need, 0});
  } else if (!blocks_.empty()) {
    blocks_.back().offset = 0;
  }
  used_ = 0;
}

size_t Arena::capacity() const {
  size_t c = 0;
  for (const auto& b : blocks_) c += b.size;
  return c;
}

}  // namespace amae
