// Seeded random tensors for tests, so a failure reproduces.
import { type Tensor, numel } from '../../lib/tensor.js';
import { Random } from '../../lib/util/random.js';

/** Uniform [0, 1) draws from the library's seeded generator. */
export function rng(seed: number): () => number {
  const r = new Random(seed, 'test');
  return () => r.next();
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
