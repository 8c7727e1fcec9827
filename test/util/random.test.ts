// amae's seeded random streams: one per named place, reproducible, unrelated between places.
import test from 'ava';
import { Random } from '../../lib/util/random.js';

const draws = (r: Random, n = 8) => Array.from({ length: n }, () => r.next());

test('a stream depends on the seed and every part of its path, in order', (t) => {
  t.deepEqual(draws(new Random(7, 2, 0, 5)), draws(new Random(7, 2, 0, 5)));
  const first = draws(new Random(7, 2, 0, 5))[0];
  for (const r of [new Random(7, 2, 0, 6), new Random(7, 2, 5, 0), new Random(8, 2, 0, 5), new Random(7, 'a'), new Random(7)]) t.not(r.next(), first);
  for (const x of draws(new Random(1), 1000)) t.true(x >= 0 && x < 1);
});

test('int, symmetric and permutation stay in range; permutations spread', (t) => {
  const r = new Random(3);
  for (let i = 0; i < 1000; i++) {
    const k = r.int(7);
    t.true(Number.isInteger(k) && k >= 0 && k < 7);
    const s = r.symmetric(0.1);
    t.true(s >= -0.1 && s < 0.1);
  }
  const seen = new Set<string>();
  for (let s = 0; s < 200; s++) {
    const p = new Random(s).permutation(4);
    t.deepEqual([...p].sort(), [0, 1, 2, 3]);
    seen.add(p.join());
  }
  t.is(seen.size, 24);
});
