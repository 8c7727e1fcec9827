// The pre-norm transformer block of spec §2.4 and a stack of them over one packed sequence:
//   x += out_proj(attn(norm1(x)));  x += linear2(GELU(linear1(norm2(x))))
// with MONAI's parameter names (`<prefix>.blocks.{i}.norm1.weight`, `.attn.qkv.weight`, …).
// Subjects lie back to back in the sequence and `offsets` keeps attention inside each one.
// The AMAE encoder and decoder are two stacks; UNETR's encoder will be a third.
#pragma once
#include <string>
#include <vector>

#include "../core/arena.h"
#include "params.h"

namespace amae::models {

// A block's parameters, as indices into the store.
struct BlockParams {
  int norm1_w, norm1_b, qkv_w, out_w, out_b, norm2_w, norm2_b, linear1_w, linear1_b, linear2_w, linear2_b;
};

// What a block's backward reads: its input and every intermediate, views into the step's Arena.
struct BlockActs {
  Tensor x;             // [T, E] the block's input
  Tensor ln1, mean1, rstd1;
  Tensor qkv;           // [T, 3E]
  Tensor att, lse;      // [T, E] the heads side by side, [heads, T]
  Tensor x1;            // [T, E] after the attention residual
  Tensor ln2, mean2, rstd2;
  Tensor h, g;          // [T, mlp] before and after GELU
};

class TransformerStack {
 public:
  // Declares depth blocks of width dim under `<prefix>.blocks.{i}` in the store.
  TransformerStack(ParamStore& store, const std::string& prefix, int depth, int64_t dim, int heads, int64_t mlp_dim);

  // x [T, dim] → the last block's output [T, dim] (allocated in the arena). Keeps what backward
  // needs; x itself must stay untouched until backward has run.
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& offsets);
  // The hidden state after block i (0-based) of the last forward: MONAI ViT's hidden_states_out[i].
  const Tensor& output(int i) const { return static_cast<size_t>(i) + 1 < acts_.size() ? acts_[size_t(i) + 1].x : out_; }
  int depth() const { return static_cast<int>(blocks_.size()); }
  // d holds ∂L/∂output on entry and ∂L/∂x on return (updated in place: the residual stream's
  // gradient is one buffer that every block adds into). Parameter gradients are added to the
  // store's. taps[i], where given (non-empty and data set), is a gradient reaching output(i) from
  // outside the stack (a UNETR skip): it joins d before block i's backward.
  void backward(Arena& arena, const Tensor& d, const Tensor& offsets, const std::vector<Tensor>& taps = {});

 private:
  ParamStore& store_;
  int heads_;
  int64_t dim_, mlp_dim_;
  std::vector<BlockParams> blocks_;
  std::vector<BlockActs> acts_;  // one per block, reused every step
  Tensor out_;                   // the last block's output
};

}  // namespace amae::models
