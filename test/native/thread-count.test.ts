// Every op family gives bit-identical results on repeat and with 1, 3 or the default number of
// threads. A process's pool size is fixed at load, so other thread counts run in child processes.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { callWithThreads } from '../helpers/threads.js';
import { allDigests } from './determinism-fixtures.js';

const fixtures = fileURLToPath(new URL('./determinism-fixtures.ts', import.meta.url));

test('ops are deterministic across repeats and thread counts', async (t) => {
  const [here, again, one, three] = await Promise.all([
    allDigests(),
    allDigests(),
    callWithThreads(1, fixtures, 'allDigests'),
    callWithThreads(3, fixtures, 'allDigests'),
  ]);
  t.true(Object.keys(here).length >= 4);
  t.deepEqual(again, here);
  t.deepEqual(one, here);
  t.deepEqual(three, here);
});
