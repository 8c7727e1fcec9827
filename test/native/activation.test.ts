import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

// Naive references, written from the definitions.
function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for 1e-6; integrate the series instead.
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

test('gelu forward matches the erf definition (odd size)', async (t) => {
  const x = randn([3, 37], 1, 2);
  const y = await ops.geluForward(x);
  t.deepEqual(y.shape, [3, 37]);
  assertClose(t, y.data, Array.from(x.data, gelu), { rtol: 1e-5, atol: 1e-6 });
});

test('gelu backward passes a finite-difference check', async (t) => {
  await gradcheck(t, {
    inputs: { x: randn([5, 13], 2, 2) },
    wrt: ['x'],
    forward: async (i) => [await ops.geluForward(i.x)],
    backward: async (i, [dy]) => ({ x: await ops.geluBackward(i.x, dy) }),
  });
});

test('leaky relu forward and backward', async (t) => {
  const x = randn([2, 3, 5, 7], 3);
  const y = await ops.leakyReluForward(x, 0.01);
  assertClose(t, y.data, Array.from(x.data, (v) => (v > 0 ? v : 0.01 * v)));
  await gradcheck(t, {
    inputs: { x },
    wrt: ['x'],
    forward: async (i) => [await ops.leakyReluForward(i.x, 0.01)],
    backward: async (i, [dy]) => ({ x: await ops.leakyReluBackward(await ops.leakyReluForward(i.x), dy, 0.01) }),
    eps: 1e-3,
  });
});

test('a large tensor is split across threads and matches the serial definition', async (t) => {
  const x = randn([100003], 4);
  const y = await ops.leakyReluForward(x, 0.2);
  assertClose(t, y.data, Array.from(x.data, (v) => (v > 0 ? v : 0.2 * v)));
});

test('activation ops reject bad arguments with typed errors', (t) => {
  const x = randn([4], 5);
  t.throws(() => runOp('gelu_forward', { x: { data: new Float32Array(3), shape: [4] } }), {
    instanceOf: RangeError,
    message: /inputs\.x: shape \[4\] needs 4 values/,
  });
  t.throws(() => runOp('gelu_forward', { x: [1, 2, 3] as never }), { instanceOf: TypeError, message: /inputs\.x must be a tensor/ });
  t.throws(() => runOp('gelu_backward', { x, dy: randn([5], 6) }), { instanceOf: RangeError, message: /inputs\.dy must have shape \[4\]/ });
  t.throws(() => runOp('gelu_backward', { x }), { instanceOf: TypeError, message: /inputs\.dy is required/ });
  t.throws(() => runOp('leaky_relu_forward', { x }, { slope: 'a' as never }), { instanceOf: TypeError, message: /attrs\.slope/ });
  t.throws(() => runOp('leaky_relu_forward', { x }, { slpe: 1 }), { instanceOf: TypeError, message: /unknown attribute attrs\.slpe/ });
  t.throws(() => runOp('no_such_op', { x }), { instanceOf: TypeError, message: /unknown op 'no_such_op'/ });
  t.throws(() => runOp('gelu_forward', { x: { data: new Int32Array(4), shape: [4] } }), { instanceOf: TypeError, message: /must be float32/ });
});

test('add is element-wise and checks shapes', async (t) => {
  const a = randn([3, 7], 5);
  const b = randn([3, 7], 6);
  const y = await ops.addForward(a, b);
  t.deepEqual(Array.from(y.data), Array.from(a.data, (v, i) => Math.fround(v + b.data[i])));
  t.throws(() => runOp('add_forward', { a, b: randn([7, 3], 7) }), { instanceOf: RangeError, message: /inputs\.b must have shape \[3,7\]/ });
});
