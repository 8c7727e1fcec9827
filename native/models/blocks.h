// The convolutional blocks of MONAI's UNETR (networks/blocks/unetr_block.py, dynunet_block.py) and
// of the U-Net baseline, on TransformerStack's contract: a block declares its parameters under a
// prefix with MONAI's names, forward keeps the activations its backward reads (views into the
// step's Arena, which must stay untouched until backward has run), and backward ADDS ∂L/∂input
// into the dx it is given (absent: skipped) and its parameter gradients into the store's.
//
// Spec §3 fixes the choices MONAI leaves to arguments: kernel 3 (padding 1, stride 1), no conv
// bias, InstanceNorm3d without affine parameters (eps 1e-5), LeakyReLU(0.01), residual blocks,
// transposed convolutions k 2 s 2 without bias. Volumes are [N, C, H, W, D].
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../core/arena.h"
#include "params.h"

namespace amae::models {

constexpr float kInstanceNormEps = 1e-5f;
constexpr float kLeakySlope = 0.01f;

// MONAI's Convolution with conv_only (a Sequential holding `conv`): `<prefix>.conv.weight`
// (+ `.conv.bias`). Kind K3: Conv3d k 3 p 1; K1: Conv3d k 1; Up2: ConvTranspose3d k 2 s 2.
class Conv {
 public:
  enum class Kind { K3, K1, Up2 };
  Conv(ParamStore& store, const std::string& prefix, int64_t in, int64_t out, Kind kind, bool bias = false);
  Tensor forward(Arena& arena, const Tensor& x);
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx);
  int64_t out_channels() const { return out_; }

 private:
  ParamStore& store_;
  Kind kind_;
  int64_t out_;
  int w_, b_ = -1;
  Tensor x_;
};

// conv → InstanceNorm → LeakyReLU (act = false: no LeakyReLU), the unit of MONAI's UnetResBlock
// (conv1/norm1, conv2/norm2, conv3/norm3) and of each U-Net level. Parameters: `<conv>.conv.weight`.
class ConvNormAct {
 public:
  ConvNormAct(ParamStore& store, const std::string& conv, int64_t in, int64_t out, int kernel = 3, bool act = true);
  Tensor forward(Arena& arena, const Tensor& x);
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx);

 private:
  Conv conv_;
  bool act_;
  Tensor rstd_, y_;  // the norm's statistics and the unit's output (the conv's, overwritten in place)
};

// MONAI's UnetResBlock: lrelu(norm2(conv2(lrelu(norm1(conv1(x))))) + residual), the residual a
// norm3(conv3(x)) with a 1×1×1 conv3 when the channels change, else x itself.
class UnetResBlock {
 public:
  UnetResBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out);
  Tensor forward(Arena& arena, const Tensor& x);
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx);

 private:
  ConvNormAct first_, second_;
  std::unique_ptr<ConvNormAct> residual_;  // conv3 / norm3, when in ≠ out
  Tensor y_;
};

// MONAI's UnetrBasicBlock with res_block: a UnetResBlock under `<prefix>.layer`.
class UnetrBasicBlock {
 public:
  UnetrBasicBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out)
      : layer_(store, prefix + ".layer", in, out) {}
  Tensor forward(Arena& arena, const Tensor& x) { return layer_.forward(arena, x); }
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx) { layer_.backward(arena, dy, dx); }

 private:
  UnetResBlock layer_;
};

// MONAI's UnetrPrUpBlock with conv_block and res_block: `transp_conv_init` (in → out, ×2), then
// num_layer times `blocks.{i}` = [transposed conv (×2) as `.0`, UnetResBlock as `.1`].
class UnetrPrUpBlock {
 public:
  UnetrPrUpBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out, int num_layer);
  Tensor forward(Arena& arena, const Tensor& x);
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx);

 private:
  int64_t out_;
  Conv init_;
  std::vector<std::unique_ptr<Conv>> ups_;
  std::vector<std::unique_ptr<UnetResBlock>> res_;
  std::vector<Tensor> outs_;  // each stage's output (for the gradient buffers' shapes)
};

// MONAI's UnetrUpBlock with res_block: `transp_conv` (in → out, ×2), cat((up, skip), dim 1),
// `conv_block` = UnetResBlock(2·out → out).
class UnetrUpBlock {
 public:
  UnetrUpBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out);
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& skip);
  // dx and dskip receive their gradients (either may be absent).
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx, const Tensor& dskip);

 private:
  int64_t out_;
  Conv up_;
  UnetResBlock block_;
  Tensor up_out_, cat_;
};

// MONAI's UnetOutBlock: a 1×1×1 Conv3d with bias, `<prefix>.conv.conv.{weight,bias}`.
class UnetOutBlock {
 public:
  UnetOutBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out)
      : conv_(store, prefix + ".conv", in, out, Conv::Kind::K1, true) {}
  Tensor forward(Arena& arena, const Tensor& x) { return conv_.forward(arena, x); }
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx) { conv_.backward(arena, dy, dx); }

 private:
  Conv conv_;
};

// One U-Net level (spec §3): two [conv3 → InstanceNorm → LeakyReLU], `<prefix>.conv1`, `.conv2`.
class UnetLevel {
 public:
  UnetLevel(ParamStore& store, const std::string& prefix, int64_t in, int64_t out)
      : conv1_(store, prefix + ".conv1", in, out), conv2_(store, prefix + ".conv2", out, out), out_(out) {}
  Tensor forward(Arena& arena, const Tensor& x) {
    h_ = conv1_.forward(arena, x);
    return conv2_.forward(arena, h_);
  }
  void backward(Arena& arena, const Tensor& dy, const Tensor& dx);

 private:
  ConvNormAct conv1_, conv2_;
  int64_t out_;
  Tensor h_;
};

// A zeroed arena tensor shaped like t: the gradient buffer a backward adds into.
Tensor zeros_like(Arena& arena, const Tensor& t);

}  // namespace amae::models
