import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { type IndexTensor, type Tensor, indices, numel } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn, rng } from '../helpers/random.js';

// Distinct values at least `step` apart in random order: no ties, and a finite-difference probe
// smaller than step/2 never changes which element wins a max.
function distinct(shape: number[], seed: number, step = 0.02): Tensor {
  const n = numel(shape);
  const r = rng(seed);
  const data = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [data[i], data[j]] = [data[j], data[i]];
  }
  return { data, shape };
}

// Small integers: many ties.
function ties(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return { data: Float32Array.from({ length: numel(shape) }, () => Math.floor(r() * 3)), shape };
}

// Naive MaxPool3d(2) with the first maximum (in (h, w, d) order) winning.
function maxpoolRef(x: Tensor) {
  const [n, c, h, w, d] = x.shape;
  const [ho, wo, dO] = [h >> 1, w >> 1, d >> 1];
  const y: number[] = [];
  const argmax: number[] = [];
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let k = 0; k < dO; k++) {
          let best = -Infinity;
          let at = -1;
          for (let a = 2 * i; a < 2 * i + 2; a++)
            for (let b = 2 * j; b < 2 * j + 2; b++)
              for (let e = 2 * k; e < 2 * k + 2; e++) {
                const idx = (a * w + b) * d + e;
                const v = x.data[nc * h * w * d + idx];
                if (at < 0 || v > best) [best, at] = [v, idx];
              }
          y.push(best);
          argmax.push(at);
        }
  return { y, argmax };
}

function scatterRef(argmax: IndexTensor, dy: Tensor, xShape: number[], plane: number): Float64Array {
  const dx = new Float64Array(numel(xShape));
  const per = argmax.data.length / (xShape[0] * xShape[1]);
  for (let i = 0; i < argmax.data.length; i++) dx[Math.floor(i / per) * plane + argmax.data[i]] += dy.data[i];
  return dx;
}

// Naive max over row groups with the lowest row winning ties.
function groupMaxRef(x: Tensor, offsets: number[]) {
  const m = x.data.length / x.shape[0];
  const y: number[] = [];
  const argmax: number[] = [];
  for (let s = 0; s + 1 < offsets.length; s++)
    for (let c = 0; c < m; c++) {
      let at = offsets[s];
      for (let r = offsets[s] + 1; r < offsets[s + 1]; r++) if (x.data[r * m + c] > x.data[at * m + c]) at = r;
      y.push(x.data[at * m + c]);
      argmax.push(at);
    }
  return { y, argmax };
}

test('maxpool3d forward matches the definition on odd sizes, with and without ties', async (t) => {
  for (const x of [randn([2, 3, 5, 7, 9], 1), ties([1, 2, 6, 5, 7], 2)]) {
    const { y, argmax } = await ops.maxPool3dForward(x);
    const ref = maxpoolRef(x);
    t.deepEqual(y.shape, [x.shape[0], x.shape[1], x.shape[2] >> 1, x.shape[3] >> 1, x.shape[4] >> 1]);
    t.deepEqual(argmax.shape, y.shape);
    t.deepEqual(Array.from(y.data), ref.y);
    t.deepEqual(Array.from(argmax.data), ref.argmax);
  }
});

test('maxpool3d propagates NaN', async (t) => {
  const x = randn([1, 1, 2, 2, 2], 3);
  x.data[5] = NaN;
  x.data[6] = NaN;
  const { y, argmax } = await ops.maxPool3dForward(x);
  t.true(Number.isNaN(y.data[0]));
  t.is(argmax.data[0], 5);
});

test('maxpool3d backward scatters into the arg-max and passes a finite-difference check', async (t) => {
  const x = distinct([2, 2, 5, 4, 7], 4);
  const size = [5, 4, 7] as const;
  const { argmax } = await ops.maxPool3dForward(x);
  const dy = randn(argmax.shape, 5);
  const dx = await ops.maxPool3dBackward(argmax, dy, size);
  t.deepEqual(dx.shape, x.shape);
  assertClose(t, dx.data, scatterRef(argmax, dy, x.shape, 5 * 4 * 7), { rtol: 0, atol: 0 });
  await gradcheck(t, {
    inputs: { x },
    wrt: ['x'],
    forward: async (i) => [(await ops.maxPool3dForward(i.x)).y],
    backward: async (i, [g]) => ({
      x: await ops.maxPool3dBackward((await ops.maxPool3dForward(i.x)).argmax, g, size),
    }),
    eps: 1e-3,
    samples: 60,
  });
});

test('group max forward matches the definition for groups of 1 and 7 rows, token and voxel layouts', async (t) => {
  const offsets = [0, 1, 8, 11, 12];
  // [12, 3, 111]: 333 values a row spans two column blocks; [12, 35] is a flat token map.
  for (const x of [randn([12, 3, 111], 6), randn([12, 35], 7), ties([12, 37], 8)]) {
    const { y, argmax } = await ops.groupMaxForward(x, indices(offsets));
    const ref = groupMaxRef(x, offsets);
    t.deepEqual(y.shape, [4, ...x.shape.slice(1)]);
    t.deepEqual(argmax.shape, y.shape);
    t.deepEqual(Array.from(y.data), ref.y);
    t.deepEqual(Array.from(argmax.data), ref.argmax);
  }
  // A group of one is the identity.
  const x = randn([1, 19], 9);
  const one = await ops.groupMaxForward(x, indices([0, 1]));
  t.deepEqual(one.y.data, x.data);
  t.true(one.argmax.data.every((r) => r === 0));
});

test('group max propagates NaN', async (t) => {
  const x = randn([3, 2], 10);
  x.data[2] = NaN;
  const { y, argmax } = await ops.groupMaxForward(x, indices([0, 3]));
  t.true(Number.isNaN(y.data[0]));
  t.is(argmax.data[0], 1);
});

test('group max backward routes each gradient to its winning row and passes a finite-difference check', async (t) => {
  const offsets = indices([0, 7, 8, 11]);
  const x = distinct([11, 5, 61], 11);
  const { argmax } = await ops.groupMaxForward(x, offsets);
  const dy = randn(argmax.shape, 12);
  const dx = await ops.groupMaxBackward(argmax, dy, 11);
  t.deepEqual(dx.shape, x.shape);
  const m = 5 * 61;
  const ref = new Float64Array(x.data.length);
  for (let i = 0; i < argmax.data.length; i++) ref[argmax.data[i] * m + (i % m)] += dy.data[i];
  assertClose(t, dx.data, ref, { rtol: 0, atol: 0 });
  await gradcheck(t, {
    inputs: { x },
    wrt: ['x'],
    forward: async (i) => [(await ops.groupMaxForward(i.x, offsets)).y],
    backward: async (i, [g]) => ({ x: await ops.groupMaxBackward((await ops.groupMaxForward(i.x, offsets)).argmax, g, 11) }),
    eps: 1e-3,
    samples: 60,
  });
});

test('max ops are deterministic', async (t) => {
  const x = randn([2, 4, 31, 30, 29], 13);
  t.deepEqual(await ops.maxPool3dForward(x), await ops.maxPool3dForward(x));
  const offsets = indices([0, 3, 8]);
  const v = randn([8, 4099], 14);
  const a = await ops.groupMaxForward(v, offsets);
  t.deepEqual(a, await ops.groupMaxForward(v, offsets));
  const dy = randn(a.y.shape, 15);
  t.deepEqual(await ops.groupMaxBackward(a.argmax, dy, 8), await ops.groupMaxBackward(a.argmax, dy, 8));
});

test('maxpool3d ops reject bad arguments with typed errors', (t) => {
  t.throws(() => runOp('maxpool3d_forward', { x: randn([2, 4, 4, 4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.x must have 5 dimensions/,
  });
  t.throws(() => runOp('maxpool3d_forward', { x: randn([1, 1, 4, 1, 4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.x\.shape\[3\] \(W\) must be at least 2/,
  });
  t.throws(() => runOp('maxpool3d_forward', { x: { data: new Int32Array(8), shape: [1, 1, 2, 2, 2] } }), {
    instanceOf: TypeError,
    message: /must be float32/,
  });
  const argmax = indices(new Int32Array(4), [1, 2, 2, 1, 1]);
  const dy = randn([1, 2, 2, 1, 1], 17);
  t.throws(() => runOp('maxpool3d_backward', { argmax, dy }, { input_size: [4, 4, 3] }), {
    instanceOf: RangeError,
    message: /attrs\.input_size\[1\] = 4 does not pool to inputs\.argmax\.shape\[3\] = 1/,
  });
  t.throws(() => runOp('maxpool3d_backward', { argmax, dy }, { input_size: [4, 2] }), {
    instanceOf: RangeError,
    message: /attrs\.input_size must be \[H, W, D\]/,
  });
  t.throws(() => runOp('maxpool3d_backward', { argmax, dy: randn([1, 2, 2, 1, 2], 1) }, { input_size: [5, 3, 3] }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[1,2,2,1,1\]/,
  });
  t.throws(() => runOp('maxpool3d_backward', { argmax: { data: new Float32Array(4), shape: [1, 2, 2, 1, 1] }, dy }, { input_size: [4, 2, 2] }), {
    instanceOf: TypeError,
    message: /inputs\.argmax must be int32/,
  });
  // Output (1, 0, 0) pools h 2..3; flat index 0 is (0, 0, 0), in another window.
  t.throws(() => runOp('maxpool3d_backward', { argmax, dy }, { input_size: [5, 3, 3] }), {
    instanceOf: RangeError,
    message: /inputs\.argmax\[1\] = 0 is outside its window/,
  });
  const neg = indices([0, -1, 18, 18], [1, 2, 2, 1, 1]);
  t.throws(() => runOp('maxpool3d_backward', { argmax: neg, dy }, { input_size: [4, 3, 3] }), {
    instanceOf: RangeError,
    message: /inputs\.argmax\[1\] = -1 is outside its window/,
  });
  t.notThrows(() => runOp('maxpool3d_backward', { argmax: indices([0, 18, 0, 18], [1, 2, 2, 1, 1]), dy }, { input_size: [4, 3, 3] }));
});

test('group max ops reject bad offsets and arg-max rows with typed errors', (t) => {
  const x = randn([5, 3], 18);
  const bad: [number[], RegExp][] = [
    [[1, 3, 5], /inputs\.offsets\[0\] = 1 must be 0/],
    [[0, 3, 2, 5], /inputs\.offsets\[2\] = 2 must be greater than inputs\.offsets\[1\] = 3/],
    [[0, 3, 3, 5], /inputs\.offsets\[2\] = 3 must be greater than .*every segment non-empty/],
    [[0, 3, 4], /inputs\.offsets\[2\] = 4 must be 5/],
    [[], /inputs\.offsets must hold nseg \+ 1 >= 2 values/],
    [[0], /inputs\.offsets must hold nseg \+ 1 >= 2 values/],
  ];
  for (const [offsets, message] of bad)
    t.throws(() => runOp('group_max_forward', { x, offsets: indices(offsets) }), { instanceOf: RangeError, message });
  t.throws(() => runOp('group_max_forward', { x, offsets: { data: new Float32Array([0, 5]), shape: [2] } }), {
    instanceOf: TypeError,
    message: /inputs\.offsets must be int32/,
  });
  t.throws(() => runOp('group_max_forward', { x, offsets: indices([0, 5], [1, 2]) }), {
    instanceOf: RangeError,
    message: /inputs\.offsets must have 1 dimensions/,
  });
  const dy = randn([2, 3], 19);
  t.throws(() => runOp('group_max_backward', { argmax: indices([0, 1, 2, 3, 4, 5], [2, 3]), dy }, { rows: 5 }), {
    instanceOf: RangeError,
    message: /inputs\.argmax\[5\] = 5 is out of range \[0, 5\)/,
  });
  t.throws(() => runOp('group_max_backward', { argmax: indices([0, 1, -2, 3, 4, 0], [2, 3]), dy }, { rows: 5 }), {
    instanceOf: RangeError,
    message: /inputs\.argmax\[2\] = -2 is out of range/,
  });
  t.throws(() => runOp('group_max_backward', { argmax: indices([0, 1, 2, 3, 4, 0], [2, 3]), dy }), {
    instanceOf: TypeError,
    message: /attrs\.rows is required/,
  });
  t.throws(() => runOp('group_max_backward', { argmax: indices([0, 1, 2], [3]), dy }, { rows: 5 }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[3\]/,
  });
});
