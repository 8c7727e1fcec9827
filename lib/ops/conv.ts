// 3D convolutions on volumes [N, C, H, W, D] with PyTorch's semantics and weight layouts.
// Backward functions compute the gradients asked for (all by default) and return them by name.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';
import { flags } from './flags.js';

/** Which gradients a backward call computes; each defaults to true. */
export interface ConvGradRequest {
  dx?: boolean;
  dw?: boolean;
  db?: boolean;
}

/** The gradients with respect to the input, the weight and the bias (present when requested). */
export interface ConvGrads {
  dx?: Tensor;
  dw?: Tensor;
  db?: Tensor;
}

/**
 * Conv3d, stride 1, zero padding k/2 (the output keeps the input's size), as PyTorch's
 * `F.conv3d(x, w, b, padding=k//2)`: x [N, Ci, H, W, D], w [Co, Ci, k, k, k] with k ∈ {1, 3},
 * optional b [Co] → y [N, Co, H, W, D].
 */
export async function conv3dForward(x: Tensor, w: Tensor, b?: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('conv3d_forward', { x, w, b })).y;
}

/** Gradients of conv3dForward given dy [N, Co, H, W, D]. */
export async function conv3dBackward(x: Tensor, w: Tensor, dy: Tensor, want: ConvGradRequest = {}): Promise<ConvGrads> {
  return runOp<ConvGrads & Record<string, Tensor>>('conv3d_backward', { x, w, dy }, flags({ ...want }));
}

/**
 * ConvTranspose3d, kernel 2, stride 2, as PyTorch's `F.conv_transpose3d(x, w, b, stride=2)`:
 * x [N, Ci, H, W, D], w [Ci, Co, 2, 2, 2], optional b [Co] → y [N, Co, 2H, 2W, 2D].
 */
export async function convTranspose3dForward(x: Tensor, w: Tensor, b?: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('conv_transpose3d_forward', { x, w, b })).y;
}

/** Gradients of convTranspose3dForward given dy [N, Co, 2H, 2W, 2D]. */
export async function convTranspose3dBackward(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  want: ConvGradRequest = {},
): Promise<ConvGrads> {
  return runOp<ConvGrads & Record<string, Tensor>>('conv_transpose3d_backward', { x, w, dy }, flags({ ...want }));
}
