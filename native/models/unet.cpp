#include "unet.h"

#include <string>

#include "../ops/pool.h"
#include "../ops/sequence.h"

namespace amae::models {
namespace {

const UnetConfig& checked(const UnetConfig& c) {
  for (int i = 0; i < 3; ++i) AMAE_CHECK(c.size[i] % 16 == 0, "U-Net: four 2×2×2 poolings need sizes divisible by 16");
  AMAE_CHECK(!c.slots.empty(), "U-Net: at least one channel slot");
  return c;
}

// t's shape with `channels` in dim 1 and each spatial dim divided by `down`, in the arena.
Tensor resized(Arena& arena, const Tensor& t, int64_t channels, int64_t down, DType dtype = DType::F32) {
  Tensor y = t;
  y.dtype = dtype;
  y.shape[1] = channels;
  for (int i = 2; i < y.ndim; ++i) y.shape[i] /= down;
  y.data = arena.alloc(static_cast<size_t>(y.numel()) * dtype_size(dtype));
  return y;
}

}  // namespace

Unet::Unet(const UnetConfig& c, uint64_t seed, Device device)
    : SegmentationModel(device, c.size, c.classes, c.slots),
      cfg_(checked(c)),
      out_(store_, "out", c.channels[0], c.classes) {
  const int64_t* ch = c.channels;
  for (int l = 0; l < kUnetLevels; ++l)
    encoders_.push_back(std::make_unique<UnetLevel>(store_, "encoders." + std::to_string(l),
                                                    l == 0 ? int64_t(c.slots.size()) : ch[l - 1], ch[l]));
  for (int l = 0; l + 1 < kUnetLevels; ++l) {
    upsamples_.push_back(std::make_unique<Conv>(store_, "upsamples." + std::to_string(l), ch[l + 1], ch[l], Conv::Kind::Up2));
    decoders_.push_back(std::make_unique<UnetLevel>(store_, "decoders." + std::to_string(l), 2 * ch[l], ch[l]));
  }
  store_.finalize();
  store_.initialize(seed);
}

Tensor Unet::run_forward(const Batch& b) {
  x_in_ = stack_slots(b);
  Tensor cur = x_in_;
  for (int l = 0; l < kUnetLevels; ++l) {
    if (l > 0) {
      pooled_[l] = resized(arena_, cur, cur.dim(1), 2);
      arg_[l] = resized(arena_, cur, cur.dim(1), 2, DType::I32);
      ops::maxpool3d_forward(cur, pooled_[l], arg_[l]);
      cur = pooled_[l];
    }
    skip_[l] = encoders_[size_t(l)]->forward(arena_, cur);
    cur = skip_[l];
  }
  for (int l = kUnetLevels - 2; l >= 0; --l) {
    up_[l] = upsamples_[size_t(l)]->forward(arena_, cur);
    cat_[l] = resized(arena_, up_[l], 2 * up_[l].dim(1), 1);
    ops::concat_forward(up_[l], skip_[l], cat_[l]);
    dec_[l] = decoders_[size_t(l)]->forward(arena_, cat_[l]);
    cur = dec_[l];
  }
  return out_.forward(arena_, cur);
}

void Unet::run_backward(const Tensor& dlogits) {
  // Each skip's gradient gathers from its decoder level (through the concat) and from the level
  // below it in resolution (through the pooling); the buffers live until their encoder has run.
  Tensor dskip[kUnetLevels];
  for (int l = 0; l < kUnetLevels; ++l) dskip[l] = zeros_like(arena_, skip_[l]);
  Tensor d = zeros_like(arena_, dec_[0]);
  out_.backward(arena_, dlogits, d);
  for (int l = 0; l + 1 < kUnetLevels; ++l) {
    // The upsampler's input: decoder level l + 1's output, or the bottleneck's.
    const Tensor dnext = l + 2 < kUnetLevels ? zeros_like(arena_, dec_[l + 1]) : dskip[l + 1];
    const Arena::Mark scratch = arena_.mark();
    const Tensor dcat = zeros_like(arena_, cat_[l]), dup = zeros_like(arena_, up_[l]);
    decoders_[size_t(l)]->backward(arena_, d, dcat);
    ops::concat_backward(dcat, dup, dskip[l]);
    upsamples_[size_t(l)]->backward(arena_, dup, dnext);
    arena_.release(scratch);
    d = dnext;
  }
  for (int l = kUnetLevels - 1; l >= 0; --l) {
    if (l == 0) {
      encoders_[0]->backward(arena_, dskip[0], Tensor());  // the input takes no gradient
      break;
    }
    const Arena::Mark scratch = arena_.mark();
    const Tensor dpool = zeros_like(arena_, pooled_[l]);
    encoders_[size_t(l)]->backward(arena_, dskip[l], dpool);
    ops::maxpool3d_backward(arg_[l], dpool, dskip[l - 1]);
    arena_.release(scratch);
  }
}

}  // namespace amae::models
