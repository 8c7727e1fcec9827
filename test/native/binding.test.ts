// What the op binding promises for every op: work off the event loop, inputs that JS may touch
// while an op runs, and an op list that matches the typed API.
import test from 'ava';
import { ops } from '../../lib/index.js';
import { addon, runOp } from '../../lib/native.js';
import { indices } from '../../lib/tensor.js';
import { randn } from '../helpers/random.js';

test('a long op runs off the event loop: a timer fires while it computes', async (t) => {
  const T = 2048;
  const qkv = randn([T, 3 * 96], 1);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = performance.now();
  const pending = ops.attentionForward(qkv, indices([0, T]), 4);
  const { out } = await pending;
  const elapsed = performance.now() - started;
  clearInterval(timer);
  t.is(out.shape[0], T);
  t.log(`op took ${elapsed.toFixed(1)} ms; the 1 ms timer fired ${ticks} times meanwhile`);
  t.true(elapsed > 10, 'the op should take long enough for timers to matter');
  t.true(ticks > 0);
});

test('index inputs are snapshotted: writing to them after the call cannot reach the op', async (t) => {
  const x = randn([4, 3], 2);
  const index = indices([3, 0, 2]);
  const pending = ops.gatherRowsForward(x, index);
  index.data[0] = 1 << 30; // out of range for the op, were it to read it now
  const y = await pending;
  t.deepEqual(Array.from(y.data.subarray(0, 3)), Array.from(x.data.subarray(9, 12)));
});

test('argument errors of the entry point itself throw synchronously, typed', async (t) => {
  t.throws(() => runOp('gelu_forward', {}), { instanceOf: TypeError, message: /gelu_forward: inputs\.x is required/ });
  t.throws(() => addon.op(42 as never, {}), { instanceOf: TypeError, message: /name must be a string/ });
  t.throws(() => addon.op('gelu_forward', null as never), { instanceOf: TypeError, message: /inputs must be an object/ });
  t.throws(() => runOp('gelu_forward', { x: randn([2], 3) }, [1] as never), { instanceOf: TypeError, message: /attrs must be an object/ });
});

test('every registered op has a forward or backward wrapper in the typed API', (t) => {
  const names = addon.opList().map((o) => o.name);
  t.true(names.length > 20);
  // Compare case- and underscore-blind: layer_norm_forward ↔ layerNormForward.
  const flat = (n: string) => n.replace(/_/g, '').toLowerCase();
  const exported = new Set(Object.keys(ops).map(flat));
  const missing = names.filter((n) => !exported.has(flat(n)));
  t.deepEqual(missing, [], `ops without a typed wrapper: ${missing.join(', ')}`);
});

test('outputs can reuse caller buffers: zero-filled, checked, never aliasing an input', async (t) => {
  const x = randn([5, 7], 4);
  const dy = randn([5, 7], 5);
  const fresh = await ops.geluBackward(x, dy);
  // A stale buffer: the backward adds into its output, so the binding must clear it first.
  const buffer = { data: new Float32Array(35).fill(123), shape: [5, 7] };
  const { dx } = await runOp<{ dx: typeof buffer }>('gelu_backward', { x, dy }, {}, { dx: buffer });
  t.is(dx, buffer);
  t.deepEqual(dx.data, fresh.data);
  t.throws(() => runOp('gelu_backward', { x, dy }, {}, { dx: randn([7, 5], 6) }), {
    instanceOf: RangeError,
    message: /gelu_backward: outputs\.dx must have shape \[5,7\], got \[7,5\]/,
  });
  t.throws(() => runOp('gelu_backward', { x, dy }, {}, { dx: x }), { instanceOf: RangeError, message: /outputs\.dx shares memory with inputs\.x/ });
  const view = { data: new Float32Array(dy.data.buffer, 4 * 3, 32), shape: [32] };
  t.throws(() => runOp('gelu_forward', { x: { data: dy.data.subarray(0, 32), shape: [32] } }, {}, { y: view }), {
    instanceOf: RangeError,
    message: /outputs\.y shares memory with inputs\.x/,
  });
  t.throws(() => runOp('gelu_backward', { x, dy }, {}, { y: buffer }), { instanceOf: TypeError, message: /outputs\.y is not an output of this call \(outputs: dx\)/ });
  t.throws(() => runOp('gelu_backward', { x, dy }, {}, { dx: { data: new Int32Array(35), shape: [5, 7] } }), { instanceOf: TypeError, message: /outputs\.dx must be float32/ });
});
