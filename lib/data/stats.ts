// Order statistics over voxel values.

/**
 * Percentiles (0–100) of `values`, interpolated linearly between order statistics as numpy's
 * default does. Uses selection on a copy rather than a full sort: O(n) per percentile, several
 * times faster than sorting a 240×240×155 volume.
 */
export function percentiles(values: ArrayLike<number>, ps: number[]): number[] {
  if (values.length === 0) throw new RangeError('percentiles of no values');
  const a = Float64Array.from(values);
  return ps.map((p) => {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not within 0–100`);
    const rank = (p / 100) * (a.length - 1);
    const lo = Math.floor(rank);
    const below = select(a, lo);
    return rank === lo ? below : below + (rank - lo) * (select(a, lo + 1) - below);
  });
}

/**
 * The k-th smallest value (0-based), leaving `a` partitioned around it. Hoare partitioning with a
 * median-of-three pivot: runs of equal values (the zero background of a brain volume) split
 * evenly instead of degrading to quadratic time.
 */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const [x, y, z] = [a[lo], a[mid], a[hi]];
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    // Now a[lo..j] ≤ pivot ≤ a[i..hi], and everything strictly between equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}
