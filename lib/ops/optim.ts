// The optimiser step and gradient clipping. These UPDATE their tensors in place: the caller's
// buffers are the parameters and the optimiser state.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';

export interface AdamWOptions {
  lr: number;
  /** Defaults as torch.optim.AdamW: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** A parameter with its gradient and AdamW moments (m, v: same shape, zero before step 1). */
export interface AdamWState {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
}

/**
 * One AdamW step as torch.optim.AdamW (decoupled weight decay), updating `param`, `m` and `v` in
 * place. `step` ≥ 1 counts the steps taken including this one (it drives the bias corrections).
 */
export async function adamwStep(s: AdamWState, opts: AdamWOptions, step: number): Promise<void> {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = opts;
  const attrs = { lr, beta1, beta2, eps, weight_decay: weightDecay, step };
  await runOp('adamw_step', { param: s.param, grad: s.grad, m: s.m, v: s.v }, attrs);
}

/**
 * adamwStep over a list, with weight decay only where `decay` is true (the usual no-decay group:
 * biases, norms, embeddings, mask tokens). The grouping is the caller's.
 */
export async function adamwStepAll(
  states: ReadonlyArray<AdamWState & { decay: boolean }>,
  opts: AdamWOptions,
  step: number,
): Promise<void> {
  for (const { decay, ...s } of states) await adamwStep(s, decay ? opts : { ...opts, weightDecay: 0 }, step);
}

/** Σx², accumulated in double natively and returned rounded to float32. */
export async function gradNormSq(x: Tensor): Promise<number> {
  return (await runOp<{ norm_sq: Tensor }>('grad_norm_sq', { x })).norm_sq.data[0];
}

/** x ← s·x in place. */
export async function scaleInplace(x: Tensor, s: number): Promise<void> {
  await runOp('scale_inplace', { x }, { s });
}

/**
 * torch.nn.utils.clip_grad_norm_ (L2) over all `grads` together: when maxNorm/(norm + 1e-6) < 1
 * every gradient is scaled by that factor in place. Returns the norm before clipping. A
 * non-finite norm leaves the gradients untouched (rather than filling them with NaN) so the
 * caller can see it and skip the step.
 */
export async function clipGradNorm(grads: readonly Tensor[], maxNorm: number): Promise<number> {
  if (!(maxNorm >= 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`clipGradNorm: maxNorm must be a finite number ≥ 0, got ${maxNorm}`);
  }
  let sq = 0;
  for (const g of grads) sq += await gradNormSq(g);
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) await scaleInplace(g, coef);
  return norm;
}
