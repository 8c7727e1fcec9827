// Concatenation, the embedding add and row gathers. Backward functions compute the gradients
// that `want` asks for (all by default, named like the outputs); the others are absent.
import { runOp } from '../native.js';
import type { IndexTensor, Tensor } from '../tensor.js';
import { flags } from './flags.js';

/** [a; b] along dim 1: a [N, Ca, ...], b [N, Cb, ...] → [N, Ca + Cb, ...]. */
export async function concatForward(a: Tensor, b: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('concat_forward', { a, b })).y;
}
/** split is Ca, the channel count of a. */
export async function concatBackward(
  dy: Tensor,
  split: number,
  want: { da?: boolean; db?: boolean } = {},
): Promise<{ da?: Tensor; db?: Tensor }> {
  return runOp<{ da?: Tensor; db?: Tensor }>('concat_backward', { dy }, { split, ...flags(want) });
}

/** y[t] = x[t] + pos[posIndex[t]] + mod[modIndex[t]] (spec §2.2: position plus modality embedding). */
export async function embedAddForward(
  x: Tensor,
  pos: Tensor,
  mod: Tensor,
  posIndex: IndexTensor,
  modIndex: IndexTensor,
): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('embed_add_forward', { x, pos, mod, pos_index: posIndex, mod_index: modIndex })).y;
}
/** numPos and numMod are the row counts P and K of the forward's pos and mod tables. */
export async function embedAddBackward(
  posIndex: IndexTensor,
  modIndex: IndexTensor,
  dy: Tensor,
  sizes: { numPos: number; numMod: number },
  want: { dx?: boolean; dpos?: boolean; dmod?: boolean } = {},
): Promise<{ dx?: Tensor; dpos?: Tensor; dmod?: Tensor }> {
  return runOp<{ dx?: Tensor; dpos?: Tensor; dmod?: Tensor }>(
    'embed_add_backward',
    { pos_index: posIndex, mod_index: modIndex, dy },
    { num_pos: sizes.numPos, num_mod: sizes.numMod, ...flags(want) },
  );
}

/** y[t] = x[index[t]]: x [R, ...], index [T] → [T, ...]. */
export async function gatherRowsForward(x: Tensor, index: IndexTensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('gather_rows_forward', { x, index })).y;
}
/** rows is R, the row count of the forward's x; repeated indices accumulate. */
export async function gatherRowsBackward(index: IndexTensor, dy: Tensor, rows: number): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('gather_rows_backward', { index, dy }, { rows })).dx;
}

/** Tokens back to a feature volume (MONAI UNETR's proj_feat): x [N, P, E] → [N, E, Gh, Gw, Gd],
 * y[n, e, q] = x[n, q, e] with Gh·Gw·Gd = P. */
export async function tokensToVolumeForward(x: Tensor, grid: readonly [number, number, number]): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('tokens_to_volume_forward', { x }, { grid: [...grid] })).y;
}
/** dx [N, P, E] of dy [N, E, Gh, Gw, Gd]. */
export async function tokensToVolumeBackward(dy: Tensor): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('tokens_to_volume_backward', { dy })).dx;
}
