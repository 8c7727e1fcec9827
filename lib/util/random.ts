// The seeded RNG of the TypeScript side (masks, and whatever else the data pipeline draws):
// xoshiro128** (Blackman & Vigna) on four 32-bit words, seeded by splitmix32 from one integer.
// Integer arithmetic only (Math.imul, unsigned shifts), so a seed gives the same sequence on
// every platform; fast enough to draw masks for every step without showing in a profile.

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Random {
  private s: Uint32Array;

  /** seed: any safe integer (its low 53 bits matter). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new TypeError(`Random: seed must be a safe integer, got ${seed}`);
    const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x27d4eb2d) };
    this.s = Uint32Array.from({ length: 4 }, () => splitmix32(st));
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Uniform integer in [0, n), n ≤ 2³², without modulo bias (rejection). */
  int(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
