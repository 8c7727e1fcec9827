#include "vit.h"

#include "../core/memory.h"
#include "../ops/activation.h"
#include "../ops/attention.h"
#include "../ops/layernorm.h"
#include "../ops/linear.h"

namespace amae::models {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // spec §2.4

// Backward ops add into their outputs; a scratch gradient reused across blocks starts at zero
// (on the arena's device).
void zero(const Tensor& t) { memory::zero(t); }

}  // namespace

TransformerStack::TransformerStack(ParamStore& store, const std::string& prefix, int depth, int64_t dim, int heads,
                                   int64_t mlp_dim)
    : store_(store), heads_(heads), dim_(dim), mlp_dim_(mlp_dim) {
  const Init ln_w = Init::constant(1), zero_bias = Init::constant(0);
  for (int i = 0; i < depth; ++i) {
    const std::string b = prefix + ".blocks." + std::to_string(i) + ".";
    BlockParams p;
    p.norm1_w = store.add(b + "norm1.weight", {dim}, ln_w, false);
    p.norm1_b = store.add(b + "norm1.bias", {dim}, zero_bias, false);
    // One Linear(E, 3E): Xavier over its whole [3E, E] weight, as MAE initialises it.
    p.qkv_w = store.add(b + "attn.qkv.weight", {3 * dim, dim}, Init::xavier(dim, 3 * dim), true);
    p.out_w = store.add(b + "attn.out_proj.weight", {dim, dim}, Init::xavier(dim, dim), true);
    p.out_b = store.add(b + "attn.out_proj.bias", {dim}, zero_bias, false);
    p.norm2_w = store.add(b + "norm2.weight", {dim}, ln_w, false);
    p.norm2_b = store.add(b + "norm2.bias", {dim}, zero_bias, false);
    p.linear1_w = store.add(b + "mlp.linear1.weight", {mlp_dim, dim}, Init::xavier(dim, mlp_dim), true);
    p.linear1_b = store.add(b + "mlp.linear1.bias", {mlp_dim}, zero_bias, false);
    p.linear2_w = store.add(b + "mlp.linear2.weight", {dim, mlp_dim}, Init::xavier(mlp_dim, dim), true);
    p.linear2_b = store.add(b + "mlp.linear2.bias", {dim}, zero_bias, false);
    blocks_.push_back(p);
  }
  acts_.resize(blocks_.size());
}

Tensor TransformerStack::forward(Arena& arena, const Tensor& x, const Tensor& offsets) {
  const int64_t T = x.dim(0), E = dim_;
  Tensor cur = x;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const BlockParams& p = blocks_[i];
    auto w = [&](int id) -> const Tensor& { return store_[id].value; };
    BlockActs& a = acts_[i];
    a.x = cur;
    // x1 = x + out_proj(attn(norm1(x)))
    a.ln1 = arena.empty({T, E});
    a.mean1 = arena.empty({T});
    a.rstd1 = arena.empty({T});
    ops::layernorm_forward(a.x, w(p.norm1_w), w(p.norm1_b), a.ln1, a.mean1, a.rstd1, kLayerNormEps);
    a.qkv = arena.empty({T, 3 * E});
    ops::linear_forward(a.ln1, w(p.qkv_w), Tensor(), a.qkv);
    a.att = arena.empty({T, E});
    a.lse = arena.empty({heads_, T});
    ops::attention_forward(a.qkv, offsets, a.att, a.lse, heads_);
    a.x1 = arena.empty({T, E});
    ops::linear_forward(a.att, w(p.out_w), w(p.out_b), a.x1);
    ops::add_forward(a.x1, a.x, a.x1);
    // x2 = x1 + linear2(GELU(linear1(norm2(x1))))
    a.ln2 = arena.empty({T, E});
    a.mean2 = arena.empty({T});
    a.rstd2 = arena.empty({T});
    ops::layernorm_forward(a.x1, w(p.norm2_w), w(p.norm2_b), a.ln2, a.mean2, a.rstd2, kLayerNormEps);
    a.h = arena.empty({T, mlp_dim_});
    ops::linear_forward(a.ln2, w(p.linear1_w), w(p.linear1_b), a.h);
    a.g = arena.empty({T, mlp_dim_});
    ops::gelu_forward(a.h, a.g);
    Tensor x2 = arena.empty({T, E});
    ops::linear_forward(a.g, w(p.linear2_w), w(p.linear2_b), x2);
    ops::add_forward(x2, a.x1, x2);
    cur = x2;
  }
  out_ = cur;
  return cur;
}

void TransformerStack::backward(Arena& arena, const Tensor& d, const Tensor& offsets, const std::vector<Tensor>& taps) {
  const int64_t T = d.dim(0), E = dim_;
  // Scratch gradients of one block, reused by every block (zeroed before each use).
  const Tensor dln = arena.empty({T, E}), datt = arena.empty({T, E}), dqkv = arena.empty({T, 3 * E});
  const Tensor dg = arena.empty({T, mlp_dim_}), dh = arena.empty({T, mlp_dim_});
  for (size_t i = blocks_.size(); i-- > 0;) {
    const BlockParams& p = blocks_[i];
    const BlockActs& a = acts_[i];
    auto w = [&](int id) -> const Tensor& { return store_[id].value; };
    auto g = [&](int id) -> const Tensor& { return store_[id].grad; };
    if (i < taps.size() && taps[i].data) ops::add_forward(d, taps[i], d);
    // MLP branch: d = ∂L/∂x2 flows unchanged to x1 (the residual), and through the branch.
    zero(dg);
    zero(dh);
    zero(dln);
    ops::linear_backward(a.g, w(p.linear2_w), d, dg, g(p.linear2_w), g(p.linear2_b));
    ops::gelu_backward(a.h, dg, dh);
    ops::linear_backward(a.ln2, w(p.linear1_w), dh, dln, g(p.linear1_w), g(p.linear1_b));
    ops::layernorm_backward(a.x1, w(p.norm2_w), a.mean2, a.rstd2, dln, d, g(p.norm2_w), g(p.norm2_b));
    // Attention branch: d is now ∂L/∂x1.
    zero(datt);
    zero(dqkv);
    zero(dln);
    ops::linear_backward(a.att, w(p.out_w), d, datt, g(p.out_w), g(p.out_b));
    ops::attention_backward(a.qkv, offsets, a.att, a.lse, datt, dqkv, heads_);
    ops::linear_backward(a.ln1, w(p.qkv_w), dqkv, dln, g(p.qkv_w), Tensor());
    ops::layernorm_backward(a.x, w(p.norm1_w), a.mean1, a.rstd1, dln, d, g(p.norm1_w), g(p.norm1_b));
  }
}

}  // namespace amae::models
