// Patch embedding: Conv3d with kernel = stride = p whose output is a token sequence per sample,
// and its Dynamic Convolution Tokenizer form with per-sample weight and bias scales (spec §2.1).
import { runOp } from '../native.js';
import type { IndexTensor, Tensor } from '../tensor.js';
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

/** The patches of x [N, C, H, W, D] as rows [N, P, C·p³], patch q in the order of patchEmbedForward,
 *  each flattened in (c, ph, pw, pd) order. */
export async function patchifyForward(x: Tensor, p: number): Promise<Tensor> {
  return (await runOp<{ patches: Tensor }>('patchify_forward', { x }, { p })).patches;
}

/** The adjoint of patchifyForward: the rows put back in place as a volume [N, C, H, W, D]. Patches do
 *  not overlap, so this is also its inverse (a reconstruction's rows → a volume). */
export async function patchifyBackward(
  dpatches: Tensor,
  p: number,
  inputSize: readonly [number, number, number],
): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('patchify_backward', { dpatches }, { p, input_size: [...inputSize] })).dx;
}

/** The Dynamic Convolution Tokenizer over chosen, already extracted patches (a model's kept ones). */
export interface PatchEmbedRowsResult {
  /** [T, E]: y[t, e] = sw[n, e]·Σ_k w[e, k]·patches[t, k] + sb[n, e]·b[e] for t in segment n. */
  y: Tensor;
  /** [T, E]: the unscaled products Σ_k w[e, k]·patches[t, k], which the backward's dsw needs. */
  z: Tensor;
}

/**
 * Embeds patch rows [T, C·p³] with one set of scales per segment: rows offsets[n] .. offsets[n+1] − 1
 * use sw[n] and sb[n] (offsets [N + 1], non-decreasing, ending at T). w is [E, C, p, p, p].
 */
export async function patchEmbedRowsForward(
  patches: Tensor,
  offsets: IndexTensor,
  params: PatchEmbedParams,
): Promise<PatchEmbedRowsResult> {
  const { w, b, sw, sb } = params;
  return runOp<PatchEmbedRowsResult & Record<string, Tensor>>('patch_embed_rows_forward', { patches, offsets, w, b, sw, sb });
}

export interface PatchEmbedRowsGrads {
  dpatches?: Tensor;
  dw?: Tensor;
  db?: Tensor;
  dsw?: Tensor;
  dsb?: Tensor;
}

/** Gradients of patchEmbedRowsForward given dy [T, E]; z (the forward's) is needed for dsw. */
export async function patchEmbedRowsBackward(
  patches: Tensor,
  offsets: IndexTensor,
  params: PatchEmbedParams,
  z: Tensor | undefined,
  dy: Tensor,
  want: { dpatches?: boolean; dw?: boolean; db?: boolean; dsw?: boolean; dsb?: boolean } = {},
): Promise<PatchEmbedRowsGrads> {
  const { w, b, sw, sb } = params;
  return runOp<PatchEmbedRowsGrads & Record<string, Tensor>>(
    'patch_embed_rows_backward',
    { patches, offsets, w, b, sw, sb, z, dy },
    flags({ ...want }),
  );
}
