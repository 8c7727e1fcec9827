// The loader's random streams: one per place in the data, reproducible, and unrelated between
// neighbouring places and seeds that differ only beyond 32 bits.
import test from 'ava';
import { derivedRandom, permutation } from '../../lib/data/rng.js';

const draws = (r: () => number, n = 8) => Array.from({ length: n }, r);

test('a stream depends on every part, their order, and all bits of the seed', (t) => {
  t.deepEqual(draws(derivedRandom(7, 2, 0, 5)), draws(derivedRandom(7, 2, 0, 5)));
  const others = [derivedRandom(7, 2, 0, 6), derivedRandom(7, 2, 5, 0), derivedRandom(8, 2, 0, 5), derivedRandom(7 + 2 ** 32, 2, 0, 5), derivedRandom(-7, 2, 0, 5)];
  const first = draws(derivedRandom(7, 2, 0, 5))[0];
  for (const r of others) t.not(r(), first);
  for (const x of draws(derivedRandom(1), 1000)) t.true(x >= 0 && x < 1);
  t.throws(() => derivedRandom(1.5), { message: /integers, got 1\.5/ });
});

test('permutation: every index once, and the orders spread', (t) => {
  const seen = new Set<string>();
  for (let s = 0; s < 200; s++) {
    const p = permutation(4, derivedRandom(s));
    t.deepEqual([...p].sort(), [0, 1, 2, 3]);
    seen.add(p.join());
  }
  t.is(seen.size, 24);
});
