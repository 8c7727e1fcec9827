// Multi-head self-attention over packed variable-length sequences: tokens attend only within
// their own segment of `offsets`.
import { runOp } from '../native.js';
import type { IndexTensor, Tensor } from '../tensor.js';

export interface AttentionForward {
  /** [T, E] the heads side by side (head h in columns [h·d, (h+1)·d)): out_proj's input. */
  out: Tensor;
  /** [heads, T] log-sum-exp of each scaled score row, kept for the backward. */
  lse: Tensor;
}

/**
 * softmax(q·kᵀ/sqrt(d))·v per head within each segment.
 * qkv: [T, 3E] from Linear(E, 3E) — q heads, k heads, v heads; d = E/heads.
 * offsets: Int32 [nseg + 1], 0 = offsets[0] ≤ … ≤ offsets[nseg] = T (empty segments allowed).
 */
export async function attentionForward(qkv: Tensor, offsets: IndexTensor, heads: number): Promise<AttentionForward> {
  return runOp<{ out: Tensor; lse: Tensor }>('attention_forward', { qkv, offsets }, { heads });
}

/** The gradient w.r.t. qkv given dout and the forward's out and lse. */
export async function attentionBackward(
  qkv: Tensor,
  offsets: IndexTensor,
  out: Tensor,
  lse: Tensor,
  dout: Tensor,
  heads: number,
): Promise<Tensor> {
  return (await runOp<{ dqkv: Tensor }>('attention_backward', { qkv, offsets, out, lse, dout }, { heads })).dqkv;
}
