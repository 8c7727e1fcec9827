// Multi-head self-attention over packed variable-length sequences: each token attends to the
// tokens of its own segment only (no padding, nothing crosses a segment boundary).
// Conventions as in activation.h: forward overwrites, backward adds.
#pragma once
#include "../core/backend.h"

namespace amae {

// qkv: [T, 3E], the output of Linear(E, 3E): q heads, then k heads, then v heads, head h of
//      each in columns [h·d, (h+1)·d) of its third (d = E / heads).
// offsets: Int32 [nseg + 1], offsets[0] = 0, offsets[nseg] = T, non-decreasing; segment s is
//      rows [offsets[s], offsets[s+1]) and may be empty.
// out: [T, E], the heads side by side (head h in columns [h·d, (h+1)·d)): out_proj's input.
// lse: [heads, T], log Σ_j exp(s_ij) of each scaled score row, so the backward recomputes the
//      probabilities instead of storing them.
// Scores are s_ij = q_i·k_j / sqrt(d).
AMAE_OP(attention_forward,
        (const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse, int heads),
        (qkv, offsets, out, lse, heads))
// dqkv += ∂L/∂qkv given dout = ∂L/∂out and the forward's out and lse.
AMAE_OP(attention_backward,
        (const Tensor& qkv, const Tensor& offsets, const Tensor& out, const Tensor& lse, const Tensor& dout,
         const Tensor& dqkv, int heads),
        (qkv, offsets, out, lse, dout, dqkv, heads))

}  // namespace amae
