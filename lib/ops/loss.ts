// Training losses. Forward functions return the scalar loss; backward functions take the
// upstream gradient of that scalar (1 for the loss itself, or the loss's weight) and return the
// gradient w.r.t. the prediction. Targets get no gradient.
import { runOp } from '../native.js';
import type { IndexTensor, Tensor } from '../tensor.js';

const scalar = (v: number): Tensor => ({ data: Float32Array.of(v), shape: [1] });

/**
 * Soft Dice loss on sigmoid probabilities, as MONAI `DiceLoss(sigmoid=True, smooth_nr=1e-5,
 * smooth_dr=1e-5)`: logits and target are [N, C, ...spatial] (target in [0, 1]); per sample and
 * class 1 − (2Σp·g + 1e-5)/(Σp + Σg + 1e-5) with p = σ(logits), averaged over N·C.
 */
export async function diceLossForward(logits: Tensor, target: Tensor): Promise<number> {
  return (await runOp<{ loss: Tensor }>('dice_loss_forward', { logits, target })).loss.data[0];
}
export async function diceLossBackward(logits: Tensor, target: Tensor, dloss = 1): Promise<Tensor> {
  return (await runOp<{ dlogits: Tensor }>('dice_loss_backward', { logits, target, dloss: scalar(dloss) })).dlogits;
}

export interface MaskedMseOptions {
  /** Normalise each target row to zero mean, unit (unbiased) variance first, as MAE. Needs L ≥ 2. */
  normPix?: boolean;
}

/**
 * The MAE reconstruction loss: pred and target are [R, L] (one row per patch), mask is Int32 [R]
 * with 1 for the masked patches, the only rows that count. Mean squared error over the masked
 * rows' values; 0 (with a zero gradient) when no row is masked.
 */
export async function maskedMseForward(
  pred: Tensor,
  target: Tensor,
  mask: IndexTensor,
  { normPix = false }: MaskedMseOptions = {},
): Promise<number> {
  return (await runOp<{ loss: Tensor }>('masked_mse_forward', { pred, target, mask }, { norm_pix: normPix })).loss
    .data[0];
}
export async function maskedMseBackward(
  pred: Tensor,
  target: Tensor,
  mask: IndexTensor,
  dloss = 1,
  { normPix = false }: MaskedMseOptions = {},
): Promise<Tensor> {
  const inputs = { pred, target, mask, dloss: scalar(dloss) };
  return (await runOp<{ dpred: Tensor }>('masked_mse_backward', inputs, { norm_pix: normPix })).dpred;
}
