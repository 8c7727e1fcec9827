#include "blocks.h"

#include <cmath>

#include "../core/memory.h"
#include "../ops/activation.h"
#include "../ops/conv.h"
#include "../ops/norm.h"
#include "../ops/sequence.h"

namespace amae::models {
namespace {

// A tensor shaped like t with `channels` in dim 1 and each spatial dim times `scale`.
Tensor like(Arena& arena, const Tensor& t, int64_t channels, int64_t scale = 1) {
  Tensor y = t;
  y.shape[1] = channels;
  for (int i = 2; i < y.ndim; ++i) y.shape[i] *= scale;
  y.data = arena.alloc(static_cast<size_t>(y.numel()) * sizeof(float));
  return y;
}

}  // namespace

Tensor zeros_like(Arena& arena, const Tensor& t) {
  Tensor z = like(arena, t, t.dim(1));
  memory::zero(z);
  return z;
}

// ---- Conv ----------------------------------------------------------------------------------

Conv::Conv(ParamStore& store, const std::string& prefix, int64_t in, int64_t out, Kind kind, bool bias)
    : store_(store), kind_(kind), out_(out) {
  const int64_t k = kind == Kind::K3 ? 3 : kind == Kind::K1 ? 1 : 2;
  // PyTorch's default init (kaiming_uniform with a = √5): U(±1/√fan_in), where a transposed
  // conv's fan_in counts its weight's dim 1 (the output channels), as PyTorch computes it.
  const int64_t fan_in = (kind == Kind::Up2 ? out : in) * k * k * k;
  const double bound = 1.0 / std::sqrt(double(fan_in));
  const std::vector<int64_t> shape = kind == Kind::Up2 ? std::vector<int64_t>{in, out, k, k, k}
                                                       : std::vector<int64_t>{out, in, k, k, k};
  w_ = store.add(prefix + ".conv.weight", shape, Init::uniform(bound), true);
  if (bias) b_ = store.add(prefix + ".conv.bias", {out}, Init::uniform(bound), false);
}

Tensor Conv::forward(Arena& arena, const Tensor& x) {
  x_ = x;
  const Tensor b = b_ >= 0 ? store_[b_].value : Tensor();
  if (kind_ == Kind::Up2) {
    Tensor y = like(arena, x, out_, 2);
    ops::conv_transpose3d_forward(x, store_[w_].value, b, y);
    return y;
  }
  Tensor y = like(arena, x, out_);
  ops::conv3d_forward(x, store_[w_].value, b, y);
  return y;
}

void Conv::backward(Arena&, const Tensor& dy, const Tensor& dx) {
  const Tensor db = b_ >= 0 ? store_[b_].grad : Tensor();
  if (kind_ == Kind::Up2)
    ops::conv_transpose3d_backward(x_, store_[w_].value, dy, dx, store_[w_].grad, db);
  else
    ops::conv3d_backward(x_, store_[w_].value, dy, dx, store_[w_].grad, db);
}

// ---- ConvNormAct ---------------------------------------------------------------------------

ConvNormAct::ConvNormAct(ParamStore& store, const std::string& conv, int64_t in, int64_t out, int kernel, bool act)
    : conv_(store, conv, in, out, kernel == 1 ? Conv::Kind::K1 : Conv::Kind::K3), act_(act) {}

Tensor ConvNormAct::forward(Arena& arena, const Tensor& x) {
  // The conv writes y_, the fused norm and activation overwrite it in place: the unit keeps one
  // volume, which its backward inverts (x̂ from y_), instead of the conv output and y_ both.
  y_ = conv_.forward(arena, x);
  rstd_ = arena.empty({y_.dim(0), y_.dim(1)});
  const Tensor mean = arena.empty({y_.dim(0), y_.dim(1)});
  ops::instance_norm_act_forward(y_, y_, mean, rstd_, kInstanceNormEps, act_ ? kLeakySlope : 1.0f);
  return y_;
}

void ConvNormAct::backward(Arena& arena, const Tensor& dy, const Tensor& dx) {
  const Arena::Mark scratch = arena.mark();
  const Tensor dc = zeros_like(arena, y_);
  ops::instance_norm_act_backward(y_, rstd_, dy, dc, act_ ? kLeakySlope : 1.0f);
  conv_.backward(arena, dc, dx);
  arena.release(scratch);
}

// ---- UnetResBlock --------------------------------------------------------------------------

UnetResBlock::UnetResBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out)
    : first_(store, prefix + ".conv1", in, out), second_(store, prefix + ".conv2", out, out, 3, false) {
  // MONAI names the norms norm1..3 but, without affine parameters, they hold no tensors.
  if (in != out) residual_ = std::make_unique<ConvNormAct>(store, prefix + ".conv3", in, out, 1, false);
}

Tensor UnetResBlock::forward(Arena& arena, const Tensor& x) {
  const Tensor h = first_.forward(arena, x);
  const Tensor z = second_.forward(arena, h);
  const Tensor r = residual_ ? residual_->forward(arena, x) : x;
  y_ = like(arena, z, z.dim(1));
  ops::add_forward(z, r, y_);
  ops::leaky_relu_forward(y_, y_, kLeakySlope);
  return y_;
}

void UnetResBlock::backward(Arena& arena, const Tensor& dy, const Tensor& dx) {
  const Arena::Mark scratch = arena.mark();
  // ds = ∂L/∂(z + r): both branches take it whole.
  const Tensor ds = zeros_like(arena, y_);
  ops::leaky_relu_backward(y_, dy, ds, kLeakySlope);
  if (residual_)
    residual_->backward(arena, ds, dx);
  else if (dx.data)
    ops::add_forward(dx, ds, dx);
  const Tensor dh = zeros_like(arena, y_);  // h has the output's shape
  second_.backward(arena, ds, dh);
  first_.backward(arena, dh, dx);
  arena.release(scratch);
}

// ---- UnetrPrUpBlock ------------------------------------------------------------------------

UnetrPrUpBlock::UnetrPrUpBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out, int num_layer)
    : out_(out), init_(store, prefix + ".transp_conv_init", in, out, Conv::Kind::Up2) {
  for (int i = 0; i < num_layer; ++i) {
    const std::string b = prefix + ".blocks." + std::to_string(i);
    ups_.push_back(std::make_unique<Conv>(store, b + ".0", out, out, Conv::Kind::Up2));
    res_.push_back(std::make_unique<UnetResBlock>(store, b + ".1", out, out));
  }
}

Tensor UnetrPrUpBlock::forward(Arena& arena, const Tensor& x) {
  outs_.clear();
  Tensor cur = init_.forward(arena, x);
  outs_.push_back(cur);
  for (size_t i = 0; i < ups_.size(); ++i) {
    const Tensor up = ups_[i]->forward(arena, cur);
    outs_.push_back(up);
    cur = res_[i]->forward(arena, up);
    outs_.push_back(cur);
  }
  return cur;
}

void UnetrPrUpBlock::backward(Arena& arena, const Tensor& dy, const Tensor& dx) {
  const Arena::Mark scratch = arena.mark();
  Tensor d = dy;
  // outs_ = [init, up0, res0, up1, res1, ...]: walk the stages back.
  for (size_t i = ups_.size(); i-- > 0;) {
    const Tensor dup = zeros_like(arena, outs_[1 + 2 * i]);
    res_[i]->backward(arena, d, dup);
    const Tensor dprev = zeros_like(arena, outs_[2 * i]);
    ups_[i]->backward(arena, dup, dprev);
    d = dprev;
  }
  init_.backward(arena, d, dx);
  arena.release(scratch);
}

// ---- UnetrUpBlock --------------------------------------------------------------------------

UnetrUpBlock::UnetrUpBlock(ParamStore& store, const std::string& prefix, int64_t in, int64_t out)
    : out_(out),
      up_(store, prefix + ".transp_conv", in, out, Conv::Kind::Up2),
      block_(store, prefix + ".conv_block", 2 * out, out) {}

Tensor UnetrUpBlock::forward(Arena& arena, const Tensor& x, const Tensor& skip) {
  up_out_ = up_.forward(arena, x);
  cat_ = like(arena, up_out_, 2 * out_);
  ops::concat_forward(up_out_, skip, cat_);
  return block_.forward(arena, cat_);
}

void UnetrUpBlock::backward(Arena& arena, const Tensor& dy, const Tensor& dx, const Tensor& dskip) {
  const Arena::Mark scratch = arena.mark();
  const Tensor dcat = zeros_like(arena, cat_);
  block_.backward(arena, dy, dcat);
  const Tensor dup = zeros_like(arena, up_out_);
  ops::concat_backward(dcat, dup, dskip);
  up_.backward(arena, dup, dx);
  arena.release(scratch);
}

// ---- UnetLevel -----------------------------------------------------------------------------

void UnetLevel::backward(Arena& arena, const Tensor& dy, const Tensor& dx) {
  const Arena::Mark scratch = arena.mark();
  const Tensor dh = zeros_like(arena, h_);
  conv2_.backward(arena, dy, dh);
  conv1_.backward(arena, dh, dx);
  arena.release(scratch);
}

}  // namespace amae::models
