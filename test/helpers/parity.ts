// Comparing one device's result with another's (the CUDA parity tests: CUDA against the CPU).
// Two measures, both must pass:
//   norm-wise     ‖a − b‖₂ / ‖b‖₂ ≤ rtol
//   element-wise  |aᵢ − bᵢ| ≤ rtol · (|bᵢ| + floor · rms(b))
// The element-wise floor is a fraction of the reference's RMS, so that elements near zero (a dot
// product that cancels) are judged against the tensor's scale rather than their own. NaN or ±Inf
// never passes (unless the reference has the very same non-finite value at that element), and an
// all-zero reference needs an all-zero result. Int32 outputs (arg-max) must be equal.
import type { OpInput } from '../../lib/native.js';

export interface Bound {
  /** Relative bound of both measures. */
  rtol: number;
  /** The element-wise floor as a fraction of rms(reference). */
  floor: number;
}

/** Math 'f32': the CPU's arithmetic up to summation order. */
export const F32_BOUND: Bound = { rtol: 1e-4, floor: 0.1 };
/**
 * Math 'bf16' (bf16 operands, fp32 accumulation): one rounding of each operand to 8 significant
 * bits gives a norm-wise error near 2⁻⁸/√3·√2 ≈ 3e-3 for random data; the element-wise floor of
 * 2·rms leaves room for the tail of that error on the elements that cancel to near zero.
 */
export const BF16_BOUND: Bound = { rtol: 1e-2, floor: 2 };
/** Attention chains two bf16 products around an exp: twice the bound. */
export const BF16_ATTENTION_BOUND: Bound = { rtol: 2e-2, floor: 2 };

export interface Comparison {
  ok: boolean;
  /** ‖a − b‖ / ‖b‖ (0 when both are zero; Infinity when only b is). */
  normRel: number;
  /** Elements over the element-wise bound (non-finite ones included). */
  bad: number;
  /** The worst element, for the message. */
  worst?: { index: number; actual: number; expected: number };
  message: string;
}

export function compare(actual: OpInput, expected: OpInput, bound: Bound, label = 'values'): Comparison {
  const a = actual.data;
  const b = expected.data;
  const shapeA = `[${actual.shape.join(', ')}]`;
  const shapeB = `[${expected.shape.join(', ')}]`;
  if (shapeA !== shapeB || a.length !== b.length || a.constructor !== b.constructor) {
    const m = `${label}: ${a.constructor.name} ${shapeA} ≠ expected ${b.constructor.name} ${shapeB}`;
    return { ok: false, normRel: Infinity, bad: Math.max(a.length, b.length), message: m };
  }
  if (b instanceof Int32Array) {
    let bad = 0;
    let first = -1;
    for (let i = 0; i < b.length; i++)
      if (a[i] !== b[i]) {
        bad++;
        if (first < 0) first = i;
      }
    const message = bad
      ? `${label}: ${bad} of ${b.length} indices differ, first [${first}] = ${a[first]}, expected ${b[first]}`
      : `${label}: ${b.length} indices equal`;
    return { ok: bad === 0, normRel: bad ? Infinity : 0, bad, message, ...(bad ? { worst: { index: first, actual: a[first], expected: b[first] } } : {}) };
  }
  let ss = 0;
  let dd = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isFinite(b[i])) ss += b[i] * b[i];
    const d = a[i] - b[i];
    dd += d * d;
  }
  const rms = b.length ? Math.sqrt(ss / b.length) : 0;
  const floor = bound.floor * rms;
  let bad = 0;
  let worst: Comparison['worst'];
  let worstExcess = -Infinity;
  for (let i = 0; i < b.length; i++) {
    const same = Object.is(a[i], b[i]); // equal non-finite values (and -0/+0 handled below)
    const err = Math.abs(a[i] - b[i]);
    const limit = bound.rtol * (Math.abs(b[i]) + floor);
    if (same || err <= limit) continue;
    bad++;
    const excess = Number.isNaN(err) ? Infinity : err - limit;
    if (worst === undefined || excess > worstExcess) {
      worst = { index: i, actual: a[i], expected: b[i] };
      worstExcess = excess;
    }
  }
  const norm = Math.sqrt(ss);
  const diff = Math.sqrt(dd);
  const normRel = norm > 0 ? diff / norm : diff === 0 ? 0 : Infinity;
  const ok = bad === 0 && normRel <= bound.rtol;
  const where = worst ? `; worst [${worst.index}] = ${worst.actual}, expected ${worst.expected}` : '';
  const message =
    `${label} ${shapeB}: ‖a−b‖/‖b‖ = ${normRel.toExponential(2)} (bound ${bound.rtol}), ` +
    `${bad} of ${b.length} elements over ${bound.rtol}·(|b| + ${bound.floor}·rms)${where}`;
  return { ok, normRel, bad, worst, message };
}

/** Whether two tensors hold bit-identical values (a repeat run of a deterministic kernel). */
export function bitEqual(a: OpInput, b: OpInput): boolean {
  if (a.data.length !== b.data.length) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return Buffer.compare(x, y) === 0;
}

/** A buffer of the same shape and type full of garbage: NaN for floats, −7 for indices. */
export function poisoned(like: OpInput): OpInput {
  if (like.data instanceof Int32Array) return { data: new Int32Array(like.data.length).fill(-7), shape: [...like.shape] };
  return { data: new Float32Array(like.data.length).fill(NaN), shape: [...like.shape] };
}
