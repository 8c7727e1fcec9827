import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import type { Tensor } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

// Naive float64 reference, written from the definition (biased variance, per (n, c)).
function instanceNormRef(x: Tensor, eps = 1e-5) {
  const rows = x.shape[0] * x.shape[1];
  const v = x.data.length / rows;
  const y = new Float64Array(x.data.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < v; i++) s += x.data[r * v + i];
    const mu = s / v;
    let ss = 0;
    for (let i = 0; i < v; i++) ss += (x.data[r * v + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(ss / v + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let i = 0; i < v; i++) y[r * v + i] = (x.data[r * v + i] - mu) * rs;
  }
  return { y, mean, rstd };
}

function offset(x: Tensor, by: number): Tensor {
  return { data: x.data.map((v) => v + by), shape: x.shape };
}

test('instance norm forward matches the definition on a volume and on a flattened [N, C, V]', async (t) => {
  for (const [x, eps] of [
    [offset(randn([2, 3, 5, 7, 3], 1, 2), 3), 1e-5],
    [randn([3, 5, 17], 2), 0.5],
  ] as const) {
    const out = await ops.instanceNormForward(x, eps);
    const ref = instanceNormRef(x, eps);
    t.deepEqual(out.y.shape, x.shape);
    t.deepEqual(out.mean.shape, x.shape.slice(0, 2));
    t.deepEqual(out.rstd.shape, x.shape.slice(0, 2));
    assertClose(t, out.y.data, ref.y, { rtol: 1e-5, atol: 1e-5 }, 'y');
    assertClose(t, out.mean.data, ref.mean, { rtol: 1e-6, atol: 1e-6 }, 'mean');
    assertClose(t, out.rstd.data, ref.rstd, { rtol: 1e-6, atol: 0 }, 'rstd');
  }
});

test('instance norm statistics stay accurate over a 96³ volume with a large offset', async (t) => {
  // A serial float32 sum of these 884 736 values misses the mean by ~1e-5 relative, and a variance
  // of 0.25 next to a squared mean of 40 000 leaves E[x²] − E[x]² almost no correct digits.
  const x = offset(randn([1, 1, 96, 96, 96], 3, 0.5), 200);
  x.data[0] = 0; // a background voxel first, 400 std away from the mean
  const out = await ops.instanceNormForward(x);
  const ref = instanceNormRef(x);
  assertClose(t, out.mean.data, ref.mean, { rtol: 1e-7, atol: 0 }, 'mean');
  assertClose(t, out.rstd.data, ref.rstd, { rtol: 1e-6, atol: 0 }, 'rstd');
  assertClose(t, out.y.data.subarray(0, 4096), ref.y.subarray(0, 4096), { rtol: 1e-4, atol: 1e-4 }, 'y');
});

test('instance norm backward passes a finite-difference check', async (t) => {
  await gradcheck(t, {
    inputs: { x: offset(randn([2, 3, 3, 4, 5], 4), 1) },
    wrt: ['x'],
    forward: async (i) => [(await ops.instanceNormForward(i.x)).y],
    backward: async (i, [dy]) => {
      const { mean, rstd } = await ops.instanceNormForward(i.x);
      return { x: await ops.instanceNormBackward(i.x, mean, rstd, dy) };
    },
    eps: 1e-2,
    samples: 40,
  });
});

test('instance norm is deterministic', async (t) => {
  const x = randn([2, 5, 21, 22, 23], 5);
  const dy = randn(x.shape, 6);
  const a = await ops.instanceNormForward(x);
  const b = await ops.instanceNormForward(x);
  t.deepEqual(a, b);
  const da = await ops.instanceNormBackward(x, a.mean, a.rstd, dy);
  const db = await ops.instanceNormBackward(x, a.mean, a.rstd, dy);
  t.deepEqual(da, db);
});

test('instance norm ops reject bad arguments with typed errors', (t) => {
  const x = randn([2, 3, 4], 7);
  const stats = { data: new Float32Array(6), shape: [2, 3] };
  t.throws(() => runOp('instance_norm_forward', { x: randn([2, 3], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.x must have at least 3 dimensions/,
  });
  t.throws(() => runOp('instance_norm_forward', { x: randn([2, 3, 0, 4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.x needs at least one spatial element/,
  });
  t.throws(() => runOp('instance_norm_forward', { x }, { eps: 0 }), { instanceOf: RangeError, message: /attrs\.eps/ });
  t.throws(() => runOp('instance_norm_forward', { x: { data: new Int32Array(24), shape: [2, 3, 4] } }), {
    instanceOf: TypeError,
    message: /inputs\.x must be float32/,
  });
  t.throws(() => runOp('instance_norm_backward', { x, mean: randn([3, 2], 1), rstd: stats, dy: x }), {
    instanceOf: RangeError,
    message: /inputs\.mean\.shape\[0\] must be 2/,
  });
  t.throws(() => runOp('instance_norm_backward', { x, mean: stats, rstd: randn([2, 2], 1), dy: x }), {
    instanceOf: RangeError,
    message: /inputs\.rstd must have shape \[2,3\]/,
  });
  t.throws(() => runOp('instance_norm_backward', { x, mean: stats, rstd: stats, dy: randn([2, 3, 5], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[2,3,4\]/,
  });
  t.throws(() => runOp('instance_norm_backward', { x, mean: stats, rstd: stats }), {
    instanceOf: TypeError,
    message: /inputs\.dy is required/,
  });
});

test('fused instance norm + LeakyReLU equals the two ops, forward bit for bit, and its backward passes a finite-difference check', async (t) => {
  for (const [shape, slope] of [
    [[2, 3, 3, 4, 5], 0.01],
    [[1, 2, 7], 0.2],
    [[3, 1, 1, 1, 2], 1],
  ] as [number[], number][]) {
    const x = offset(randn(shape, 11), 0.3);
    const fused = await ops.instanceNormActForward(x, slope);
    const norm = await ops.instanceNormForward(x);
    const act = await ops.leakyReluForward(norm.y, slope);
    t.deepEqual(fused.y.data, act.data, `y, slope ${slope}`);
    t.deepEqual(fused.rstd.data, norm.rstd.data);
    // Backward from the output alone against the two backward ops from the saved input.
    const dy = randn(shape, 12);
    const dn = await ops.leakyReluBackward(act, dy, slope);
    const want = await ops.instanceNormBackward(x, norm.mean, norm.rstd, dn);
    assertClose(t, (await ops.instanceNormActBackward(fused.y, fused.rstd, dy, slope)).data, want.data, { atol: 1e-5, rtol: 1e-4 });
  }
  await gradcheck(t, {
    inputs: { x: offset(randn([2, 3, 3, 4, 5], 13), 1) },
    wrt: ['x'],
    forward: async (i) => [(await ops.instanceNormActForward(i.x)).y],
    backward: async (i, [dy]) => {
      const { y, rstd } = await ops.instanceNormActForward(i.x);
      return { x: await ops.instanceNormActBackward(y, rstd, dy) };
    },
    eps: 1e-2,
    samples: 40,
  });
  // In place through the model blocks (y is x): covered by the whole-model checks.
  t.throws(() => runOp('instance_norm_act_forward', { x: randn([2, 3, 4], 14) }, { slope: 0 }), { instanceOf: RangeError, message: /attrs\.slope must be > 0/ });
  t.throws(() => runOp('instance_norm_act_backward', { y: randn([2, 3, 4], 15), rstd: randn([2, 2], 16), dy: randn([2, 3, 4], 17) }), {
    instanceOf: RangeError,
    message: /inputs\.rstd\.shape\[1\] must be 3/,
  });
  t.throws(() => runOp('instance_norm_act_backward', { y: randn([2, 3, 4], 15), rstd: randn([2, 3], 16), dy: randn([2, 3, 5], 17) }), {
    instanceOf: RangeError,
    message: /inputs\.dy/,
  });
});
