import test from 'ava';
import { lrAt } from '../../lib/train/schedule.js';

test('warm-up rises linearly, then a half cosine falls to minLr at the last step', (t) => {
  const s = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-5 };
  t.is(lrAt(0, s), 1e-4);
  t.is(lrAt(9, s), 1e-3);
  t.is(lrAt(10, s), 1e-3);
  t.true(Math.abs(lrAt(60, s) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-12, 'half way down at the middle of the decay');
  t.true(Math.abs(lrAt(110, s) - 1e-5) < 1e-12);
  for (let i = 11; i < 110; i++) t.true(lrAt(i, s) <= lrAt(i - 1, s), `monotone after warm-up at ${i}`);
});

test('no warm-up starts at the base rate', (t) => {
  t.is(lrAt(0, { lr: 2e-4, warmupSteps: 0, totalSteps: 50 }), 2e-4);
});
