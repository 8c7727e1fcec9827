// Seeded random tensors for tests, so a failure reproduces.
import { type Tensor, numel } from '../../lib/tensor.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal(0, scale²) values of the given shape. */
export function randn(shape: number[], seed: number, scale = 1): Tensor {
  const r = rng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const u = Math.max(r(), 1e-12);
    data[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return { data, shape: [...shape] };
}

/** Uniform values in [lo, hi). */
export function randu(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = rng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * r();
  return { data, shape: [...shape] };
}
