// Max reductions that return their arg-max for the backward.
import { runOp } from '../native.js';
import type { IndexTensor, Tensor } from '../tensor.js';

export interface MaxOut {
  y: Tensor;
  argmax: IndexTensor;
}

/**
 * MaxPool3d(2) of x [N, C, H, W, D] → [N, C, ⌊H/2⌋, ⌊W/2⌋, ⌊D/2⌋]. argmax is each winner's flat
 * index (h·W + w)·D + d within its (n, c) volume; ties go to the first in (h, w, d) order.
 */
export async function maxPool3dForward(x: Tensor): Promise<MaxOut> {
  return runOp<{ y: Tensor; argmax: IndexTensor }>('maxpool3d_forward', { x });
}
/** inputSize is the pooled input's [H, W, D] (odd sizes cannot be recovered from dy). */
export async function maxPool3dBackward(
  argmax: IndexTensor,
  dy: Tensor,
  inputSize: readonly [number, number, number],
): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('maxpool3d_backward', { argmax, dy }, { input_size: [...inputSize] })).dx;
}

/**
 * Max over groups of rows (Adaptive UNETR's max over a subject's contrasts): x [R, ...],
 * offsets [S + 1] (0, strictly increasing, R) → y [S, ...]. argmax holds the winning row of x
 * (absolute); ties go to the lowest row.
 */
export async function groupMaxForward(x: Tensor, offsets: IndexTensor): Promise<MaxOut> {
  return runOp<{ y: Tensor; argmax: IndexTensor }>('group_max_forward', { x, offsets });
}
/** rows is R, the row count of the forward's x. */
export async function groupMaxBackward(argmax: IndexTensor, dy: Tensor, rows: number): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('group_max_backward', { argmax, dy }, { rows })).dx;
}
