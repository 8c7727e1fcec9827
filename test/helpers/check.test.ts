// The checks themselves must be able to fail, or every op test built on them proves nothing.
import test from 'ava';
import { ops } from '../../lib/index.js';
import { gradcheckFailures } from './check.js';
import { randn } from './random.js';

test('gradcheck reports a wrong analytic gradient', async (t) => {
  const x = randn([7], 1);
  const spec = {
    inputs: { x },
    wrt: ['x'],
    forward: async (i: { x: typeof x }) => [await ops.geluForward(i.x)],
  };
  const right = await gradcheckFailures({ ...spec, backward: async (i, [dy]) => ({ x: await ops.geluBackward(i.x, dy) }) });
  t.deepEqual(right, []);
  const wrong = await gradcheckFailures({
    ...spec,
    backward: async (i, [dy]) => {
      const g = await ops.geluBackward(i.x, dy);
      g.data[3] *= 1.1;
      return { x: g };
    },
  });
  t.is(wrong.length, 1);
  t.regex(wrong[0], /dx\[3\]/);
});
