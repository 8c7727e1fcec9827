// Normalisation. Backward functions return the gradient w.r.t. the input.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';

export interface InstanceNormOut {
  y: Tensor;
  /** Per-(n, c) statistics [N, C], kept for the backward. */
  mean: Tensor;
  rstd: Tensor;
}

/**
 * InstanceNorm3d without affine parameters (PyTorch/MONAI in training mode, biased variance):
 * x is [N, C, ...spatial], any rank 3 to 6; each (n, c) is normalised over all its spatial values.
 */
export async function instanceNormForward(x: Tensor, eps = 1e-5): Promise<InstanceNormOut> {
  return runOp<{ y: Tensor; mean: Tensor; rstd: Tensor }>('instance_norm_forward', { x }, { eps });
}
export async function instanceNormBackward(x: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('instance_norm_backward', { x, mean, rstd, dy })).dx;
}

/** Instance norm fused with LeakyReLU(slope) (default 0.01; 1 for none): y = lrelu((x − mean)·rstd). */
export async function instanceNormActForward(x: Tensor, slope = 0.01, eps = 1e-5): Promise<InstanceNormOut> {
  return runOp<{ y: Tensor; mean: Tensor; rstd: Tensor }>('instance_norm_act_forward', { x }, { eps, slope });
}
/** The fused backward from the forward's output y alone (the activation inverted: slope > 0). */
export async function instanceNormActBackward(y: Tensor, rstd: Tensor, dy: Tensor, slope = 0.01): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('instance_norm_act_backward', { y, rstd, dy }, { slope })).dx;
}
