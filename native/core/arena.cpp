#include "arena.h"

#include <algorithm>

namespace amae {

void* Arena::alloc(size_t bytes) {
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (blocks_.empty() || blocks_.back().offset + bytes > blocks_.back().mem.bytes()) {
    // Grow geometrically so a step's worth of activations settles into a few blocks.
    const size_t size = std::max<size_t>({bytes, size_t(1) << 20, capacity()});
    blocks_.push_back(Block{memory::Buffer(device_, size), 0});
  }
  Block& b = blocks_.back();
  void* p = static_cast<uint8_t*>(b.mem.data()) + b.offset;
  b.offset += bytes;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  round_peak_ = std::max(round_peak_, used_);
  return p;
}

Tensor Arena::empty(std::initializer_list<int64_t> dims, DType t) {
  Tensor x(nullptr, dims, t, device_);
  x.data = alloc(static_cast<size_t>(x.numel()) * dtype_size(t));
  return x;
}

Tensor Arena::zeros(std::initializer_list<int64_t> dims, DType t) {
  Tensor x = empty(dims, t);
  memory::zero(x);
  return x;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // Replace the chain by one block big enough for the most the last round held at once (one
    // block has no tail waste, so that fits it again). The old blocks go first, so the peak holds
    // one round's memory, not two.
    const size_t need = round_peak_;
    blocks_.clear();
    blocks_.push_back(Block{memory::Buffer(device_, need), 0});
  } else if (!blocks_.empty()) {
    blocks_.back().offset = 0;
  }
  used_ = 0;
  round_peak_ = 0;
}

void Arena::release(const Mark& m) {
  AMAE_CHECK(m.blocks <= blocks_.size() && m.used <= used_, "Arena::release: the mark is newer than the arena");
  // Blocks added since the mark held only memory allocated after it.
  while (blocks_.size() > m.blocks) blocks_.pop_back();
  if (!blocks_.empty()) blocks_.back().offset = m.offset;
  used_ = m.used;
}

size_t Arena::capacity() const {
  size_t c = 0;
  for (const auto& b : blocks_) c += b.mem.bytes();
  return c;
}

}  // namespace amae
