// Seeded randomness for the data pipeline. Every random choice the loader makes comes from a
// stream derived from the seed and the choice's place in the data (an epoch, a position in the
// epoch), never from a generator shared across samples, so results do not depend on how many
// workers there are or in which order their work completes.

/** Uniform values in [0, 1). */
export type Random = () => number;

/** mulberry32: 32 bits of state, fast, and plenty for picking crops, flips and orderings. */
export function mulberry32(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A generator for one place in the data: the integers (seed, a purpose tag, epoch, position …)
 * hashed together. Neighbouring places (position p and p + 1) get unrelated streams, because each
 * part goes through murmur3's finaliser rather than being added to the seed.
 */
export function derivedRandom(...parts: number[]): Random {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (!Number.isSafeInteger(part)) throw new RangeError(`random stream parts must be integers, got ${part}`);
    // Both 32-bit halves, so that seeds beyond 2³² still differ.
    h = fmix32(h ^ fmix32(part >>> 0));
    h = fmix32(h ^ fmix32(Math.floor(part / 4294967296) >>> 0));
  }
  return mulberry32(h);
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** A uniform value in [−range, range). */
export function randomSymmetric(random: Random, range: number): number {
  return (2 * random() - 1) * range;
}

/** Fisher–Yates: a uniformly random permutation of 0 … n − 1. */
export function permutation(n: number, random: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
