// amae's one seeded random generator on the TypeScript side (masks, data order, augmentation, the
// synthetic data set). Every random choice is drawn from a stream named after what it decides (a
// subject's anatomy, epoch e's order, the sample at position i of epoch e, step s's masks), so
// results are a function of the seed alone: they do not depend on how many workers run or in
// which order they finish, a resumed run draws what the uninterrupted one would have, and a
// change to how one part draws leaves every other part's values as they were.

/** 32-bit FNV-1a of a string, for turning stream names into seed material. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit finaliser (murmur3's fmix32): spreads seeds that differ in one bit over all bits. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * sfc32 (Doty-Humphrey's small fast counting generator): four words of state, passes PractRand
 * far beyond the few million draws a subject needs, and runs on 32-bit integer ops that V8 keeps
 * unboxed.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** The stream for `seed` (a non-negative integer) and a path of names under it. */
  constructor(seed: number, ...path: (string | number)[]) {
    const key = fnv1a(`${seed}/${path.join('/')}`);
    this.a = mix32(key ^ 0x9e3779b9);
    this.b = mix32(key + 0x7f4a7c15);
    this.c = mix32(Math.imul(key, 0x2545f491) ^ (seed >>> 0));
    this.d = 1;
    // The first outputs of a freshly keyed counter generator are still correlated with the key.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform in [−range, range). */
  symmetric(range: number): number {
    return (2 * this.next() - 1) * range;
  }

  /** Fisher–Yates: a uniformly random permutation of 0 … n − 1. */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  sign(): 1 | -1 {
    return this.next() < 0.5 ? -1 : 1;
  }

  /** Index i with probability weights[i] / Σ weights. */
  weighted(weights: readonly number[]): number {
    let u = this.next() * weights.reduce((s, w) => s + w, 0);
    for (let i = 0; i < weights.length - 1; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    return weights.length - 1;
  }

  /** Fills `out` with standard normals, both halves of each Box–Muller pair used. */
  normals(out: Float32Array): void {
    for (let i = 0; i < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.next()));
      const phi = 2 * Math.PI * this.next();
      out[i] = r * Math.cos(phi);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(phi);
    }
  }

  /** Standard normal (Box–Muller; the sine half is dropped, which keeps the stream stateless). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: the log stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}
