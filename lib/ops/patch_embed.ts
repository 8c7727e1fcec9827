// Patch embedding: Conv3d with kernel = stride = p whose output is a token sequence per sample,
// and its Dynamic Convolution Tokenizer form with per-sample weight and bias scales (spec §2.1).
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';
import { flags } from './flags.js';

export interface PatchEmbedParams {
  /** The weight [E, C, p, p, p]. */
  w: Tensor;
  /** The bias [E]; absent means no bias. */
  b?: Tensor;
  /** Per-sample weight scales [N, E] (the DCT's s_w); absent means ones. */
  sw?: Tensor;
  /** Per-sample bias scales [N, E] (the DCT's s_b); absent means ones. Needs b. */
  sb?: Tensor;
}

/** Which gradients patchEmbedBackward computes: each defaults to true when its tensor is given. */
export interface PatchEmbedGradRequest {
  dx?: boolean;
  dw?: boolean;
  db?: boolean;
  dsw?: boolean;
  dsb?: boolean;
}

export interface PatchEmbedGrads {
  dx?: Tensor;
  dw?: Tensor;
  db?: Tensor;
  dsw?: Tensor;
  dsb?: Tensor;
}

/**
 * Tokens y [N, P, E] of x [N, C, H, W, D], p dividing H, W and D:
 * y[n, q, e] = sw[n, e]·Σ_{c,v} w[e, c, v]·patch_q(x[n, c])[v] + sb[n, e]·b[e], with patch index
 * q = (gh·Gw + gw)·Gd + gd and G = (H, W, D)/p. Without sw and sb this is UNETR's
 * `Conv3d(C → E, kernel_size=p, stride=p)` flattened to tokens.
 */
export async function patchEmbedForward(x: Tensor, params: PatchEmbedParams, p: number): Promise<Tensor> {
  const { w, b, sw, sb } = params;
  return (await runOp<{ y: Tensor }>('patch_embed_forward', { x, w, b, sw, sb }, { p })).y;
}

/** Gradients of patchEmbedForward given dy [N, P, E]. */
export async function patchEmbedBackward(
  x: Tensor,
  params: PatchEmbedParams,
  dy: Tensor,
  p: number,
  want: PatchEmbedGradRequest = {},
): Promise<PatchEmbedGrads> {
  const { w, b, sw, sb } = params;
  return runOp<PatchEmbedGrads & Record<string, Tensor>>('patch_embed_backward', { x, w, b, sw, sb, dy }, {
    p,
    ...flags({ ...want }),
  });
}
