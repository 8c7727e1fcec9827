// Layer normalisation over the last dimension of a [T, C] token matrix.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';

export interface LayerNormForward {
  /** [T, C] the normalised, scaled and shifted rows. */
  y: Tensor;
  /** [T] each row's mean, kept for the backward. */
  mean: Tensor;
  /** [T] each row's 1/sqrt(var + eps), kept for the backward. */
  rstd: Tensor;
}

export interface LayerNormGrads {
  dx: Tensor;
  dw: Tensor;
  db: Tensor;
}

/** y = (x − mean)/sqrt(var + eps)·w + b per row of x [T, C]; w, b: [C]; eps defaults to 1e-5. */
export async function layerNormForward(x: Tensor, w: Tensor, b: Tensor, eps?: number): Promise<LayerNormForward> {
  // Without eps the binding applies its default, so the default lives in one place.
  return runOp<{ y: Tensor; mean: Tensor; rstd: Tensor }>('layernorm_forward', { x, w, b }, eps === undefined ? {} : { eps });
}

/** Gradients w.r.t. x, w and b given dy and the forward's mean and rstd. */
export async function layerNormBackward(x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor): Promise<LayerNormGrads> {
  return runOp<{ dx: Tensor; dw: Tensor; db: Tensor }>('layernorm_backward', { x, w, mean, rstd, dy });
}
