// Random patch masking (spec §2.3): per contrast, independently, keep
// n = max(1, floor((1 − r)·P + 1e-6)) of the P patches, chosen uniformly, listed ascending;
// the others are masked. r = 0 keeps every patch (nothing masked, no loss). Masks come from a
// seeded Random (lib/util/random.ts), one stream drawn contrast after contrast,
// so a seed reproduces every mask of a batch; explicit keep lists bypass the RNG (how
// implementations with different RNGs are compared).
import { Random } from '../util/random.js';

/** How many of P patches a contrast keeps at mask ratio r ∈ [0, 1). */
export function keepCount(patches: number, maskRatio: number): number {
  if (!(maskRatio >= 0 && maskRatio < 1)) throw new RangeError(`maskRatio must lie in [0, 1), got ${maskRatio}`);
  if (!Number.isInteger(patches) || patches < 1) throw new RangeError(`patches must be a positive integer, got ${patches}`);
  return Math.max(1, Math.floor((1 - maskRatio) * patches + 1e-6));
}

/** The kept patch indices of one contrast, ascending: a uniform subset of keepCount(P, r) patches. */
export function randomKeep(patches: number, maskRatio: number, random: Random): Int32Array {
  const n = keepCount(patches, maskRatio);
  // The first n steps of a Fisher–Yates shuffle give a uniform n-subset.
  const order = Int32Array.from({ length: patches }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + random.int(patches - i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order.slice(0, n).sort();
}

/** Checks an explicit keep list: non-empty, ascending, each index in [0, P). `where` names it in errors. */
export function checkKeep(keep: ArrayLike<number>, patches: number, where: string): Int32Array {
  if (keep.length < 1) throw new RangeError(`${where} must keep at least one patch`);
  const out = Int32Array.from(keep);
  out.forEach((q, i) => {
    if (!Number.isInteger(keep[i]) || q < 0 || q >= patches) throw new RangeError(`${where}[${i}] = ${keep[i]} is out of range [0, ${patches})`);
    if (i > 0 && q <= out[i - 1]) throw new RangeError(`${where}[${i}] = ${q} must be greater than ${where}[${i - 1}] = ${out[i - 1]} (ascending, each once)`);
  });
  return out;
}
