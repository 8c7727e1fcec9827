import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { type IndexTensor, type Tensor, indices } from '../../lib/tensor.js';
import { gradcheck } from '../helpers/check.js';
import { randn, rng } from '../helpers/random.js';

function randint(n: number, hi: number, seed: number): IndexTensor {
  const r = rng(seed);
  return indices(Int32Array.from({ length: n }, () => Math.floor(r() * hi)));
}

// dst[index[t]] += src[t] in float32, tokens in ascending t: the order the ops promise, so their
// results must match bit for bit.
function scatterRef(index: IndexTensor, src: Tensor, rows: number): Float32Array {
  const width = src.data.length / index.data.length;
  const dst = new Float32Array(rows * width);
  index.data.forEach((r, t) => {
    for (let c = 0; c < width; c++) dst[r * width + c] = Math.fround(dst[r * width + c] + src.data[t * width + c]);
  });
  return dst;
}

test('concat forward stacks a and b along dim 1', async (t) => {
  const a = randn([2, 3, 5, 7], 1);
  const b = randn([2, 4, 5, 7], 2);
  const y = await ops.concatForward(a, b);
  t.deepEqual(y.shape, [2, 7, 5, 7]);
  const ref: number[] = [];
  for (let n = 0; n < 2; n++) ref.push(...a.data.subarray(n * 105, (n + 1) * 105), ...b.data.subarray(n * 140, (n + 1) * 140));
  t.deepEqual(Array.from(y.data), ref);
  // Tokens [N, C] concatenate the same way, and an empty side is allowed.
  const e = await ops.concatForward(randn([3, 0], 3), randn([3, 2], 4));
  t.deepEqual(e.shape, [3, 2]);
});

test('concat backward splits dy, returns only the gradients asked for and passes a finite-difference check', async (t) => {
  const a = randn([2, 3, 5, 3], 5);
  const b = randn([2, 2, 5, 3], 6);
  const dy = randn([2, 5, 5, 3], 7);
  const g = await ops.concatBackward(dy, 3);
  t.deepEqual(g.da!.shape, a.shape);
  t.deepEqual(g.db!.shape, b.shape);
  t.deepEqual(Array.from(g.da!.data.subarray(45, 90)), Array.from(dy.data.subarray(75, 120)));
  t.deepEqual(Array.from(g.db!.data.subarray(30, 60)), Array.from(dy.data.subarray(120, 150)));
  const onlyB = await ops.concatBackward(dy, 3, { da: false });
  t.is(onlyB.da, undefined);
  t.deepEqual(onlyB.db, g.db);
  const onlyA = await ops.concatBackward(dy, 3, { db: false });
  t.is(onlyA.db, undefined);
  t.deepEqual(onlyA.da, g.da);
  await gradcheck(t, {
    inputs: { a, b },
    wrt: ['a', 'b'],
    forward: async (i) => [await ops.concatForward(i.a, i.b)],
    backward: async (_, [d]) => {
      const g = await ops.concatBackward(d, 3);
      return { a: g.da!, b: g.db! };
    },
  });
});

// Odd sizes: E = 45 spans two column blocks; 53 tokens over 11 positions and 9 contrasts repeat
// indices, so the scatter-adds really accumulate.
const [T, E, P, K] = [53, 45, 11, 9];

test('embed add forward adds the position and modality rows of every token', async (t) => {
  const x = randn([T, E], 8);
  const pos = randn([P, E], 9);
  const mod = randn([K, E], 10);
  const pi = randint(T, P, 11);
  const mi = randint(T, K, 12);
  const y = await ops.embedAddForward(x, pos, mod, pi, mi);
  t.deepEqual(y.shape, [T, E]);
  const ref = new Float32Array(T * E);
  for (let i = 0; i < T; i++)
    for (let c = 0; c < E; c++)
      ref[i * E + c] = Math.fround(Math.fround(x.data[i * E + c] + pos.data[pi.data[i] * E + c]) + mod.data[mi.data[i] * E + c]);
  t.deepEqual(y.data, ref);
});

test('embed add backward scatter-adds in token order and passes a finite-difference check', async (t) => {
  const pi = randint(T, P, 13);
  const mi = randint(T, K, 14);
  const dy = randn([T, E], 15);
  const g = await ops.embedAddBackward(pi, mi, dy, { numPos: P, numMod: K });
  t.deepEqual(g.dx, dy);
  t.deepEqual(g.dpos!.shape, [P, E]);
  t.deepEqual(g.dpos!.data, scatterRef(pi, dy, P));
  t.deepEqual(g.dmod!.data, scatterRef(mi, dy, K));
  const onlyMod = await ops.embedAddBackward(pi, mi, dy, { numPos: P, numMod: K }, { dx: false, dpos: false });
  t.deepEqual(Object.keys(onlyMod), ['dmod']);
  t.deepEqual(onlyMod.dmod, g.dmod);
  await gradcheck(t, {
    inputs: { x: randn([T, E], 16), pos: randn([P, E], 17), mod: randn([K, E], 18) },
    wrt: ['x', 'pos', 'mod'],
    forward: async (i) => [await ops.embedAddForward(i.x, i.pos, i.mod, pi, mi)],
    backward: async (_, [d]) => {
      const g = await ops.embedAddBackward(pi, mi, d, { numPos: P, numMod: K });
      return { x: g.dx!, pos: g.dpos!, mod: g.dmod! };
    },
  });
});

test('gather rows picks rows and scatter-adds back in token order', async (t) => {
  for (const x of [randn([13, 37], 19), randn([13, 3, 5], 20)]) {
    const index = randint(40, 13, 21);
    const y = await ops.gatherRowsForward(x, index);
    const w = x.data.length / 13;
    t.deepEqual(y.shape, [40, ...x.shape.slice(1)]);
    const ref = new Float32Array(40 * w);
    index.data.forEach((r, i) => ref.set(x.data.subarray(r * w, (r + 1) * w), i * w));
    t.deepEqual(y.data, ref);
    const dy = randn(y.shape, 22);
    const dx = await ops.gatherRowsBackward(index, dy, 13);
    t.deepEqual(dx.shape, x.shape);
    t.deepEqual(dx.data, scatterRef(index, dy, 13));
    await gradcheck(t, {
      inputs: { x },
      wrt: ['x'],
      forward: async (i) => [await ops.gatherRowsForward(i.x, index)],
      backward: async (_, [d]) => ({ x: await ops.gatherRowsBackward(index, d, 13) }),
    });
  }
});

test('scatter-adds are deterministic with many tokens per row', async (t) => {
  // 3000 tokens onto 7 rows of 96: every element sums ~430 float32 values, so any change of order
  // would show in the low bits.
  const index = randint(3000, 7, 23);
  const dy = randn([3000, 96], 24);
  const first = await ops.gatherRowsBackward(index, dy, 7);
  t.deepEqual(first.data, scatterRef(index, dy, 7));
  t.deepEqual(await ops.gatherRowsBackward(index, dy, 7), first);
  const g = await ops.embedAddBackward(index, index, dy, { numPos: 7, numMod: 7 });
  t.deepEqual(g.dpos!.data, first.data);
  t.deepEqual(g.dmod!.data, first.data);
});

test('concat ops reject bad arguments with typed errors', (t) => {
  const a = randn([2, 3, 4], 25);
  t.throws(() => runOp('concat_forward', { a, b: randn([2, 3, 5], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.b\.shape\[2\] must be 4/,
  });
  t.throws(() => runOp('concat_forward', { a, b: randn([2, 3], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.b must have 3 dimensions/,
  });
  t.throws(() => runOp('concat_forward', { a: randn([4], 1), b: randn([4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.a must have at least 2 dimensions/,
  });
  t.throws(() => runOp('concat_backward', { dy: a }, { split: 4 }), {
    instanceOf: RangeError,
    message: /attrs\.split = 4 must lie in \[0, 3\]/,
  });
  t.throws(() => runOp('concat_backward', { dy: a }), { instanceOf: TypeError, message: /attrs\.split is required/ });
});

test('embed add ops reject bad arguments and out-of-range indices with typed errors', (t) => {
  const x = randn([4, 6], 26);
  const pos = randn([3, 6], 27);
  const mod = randn([2, 6], 28);
  const ok = indices([0, 1, 2, 1]);
  const zeros = indices([0, 0, 0, 0]);
  t.throws(() => runOp('embed_add_forward', { x, pos, mod, pos_index: indices([0, 1, 3, 1]), mod_index: zeros }), {
    instanceOf: RangeError,
    message: /inputs\.pos_index\[2\] = 3 is out of range \[0, 3\)/,
  });
  t.throws(() => runOp('embed_add_forward', { x, pos, mod, pos_index: ok, mod_index: indices([0, 0, 0, -1]) }), {
    instanceOf: RangeError,
    message: /inputs\.mod_index\[3\] = -1 is out of range \[0, 2\)/,
  });
  t.throws(() => runOp('embed_add_forward', { x, pos: randn([3, 5], 1), mod, pos_index: ok, mod_index: zeros }), {
    instanceOf: RangeError,
    message: /inputs\.pos\.shape\[1\] must be 6/,
  });
  t.throws(() => runOp('embed_add_forward', { x, pos, mod, pos_index: indices([0, 1, 2]), mod_index: zeros }), {
    instanceOf: RangeError,
    message: /inputs\.pos_index\.shape\[0\] must be 4/,
  });
  t.throws(() => runOp('embed_add_forward', { x, pos, mod, pos_index: { data: new Float32Array(4), shape: [4] }, mod_index: zeros }), {
    instanceOf: TypeError,
    message: /inputs\.pos_index must be int32/,
  });
  const dy = randn([4, 6], 29);
  t.throws(() => runOp('embed_add_backward', { pos_index: ok, mod_index: zeros, dy }, { num_pos: 2, num_mod: 2 }), {
    instanceOf: RangeError,
    message: /inputs\.pos_index\[2\] = 2 is out of range \[0, 2\)/,
  });
  t.throws(() => runOp('embed_add_backward', { pos_index: ok, mod_index: zeros, dy }, { num_mod: 2 }), {
    instanceOf: TypeError,
    message: /attrs\.num_pos is required/,
  });
  t.notThrows(() => runOp('embed_add_backward', { pos_index: ok, mod_index: zeros, dy }, { num_mod: 2, dpos: false }));
});

test('gather rows ops reject bad arguments and out-of-range indices with typed errors', (t) => {
  const x = randn([5, 3], 30);
  t.throws(() => runOp('gather_rows_forward', { x, index: indices([0, 5]) }), {
    instanceOf: RangeError,
    message: /inputs\.index\[1\] = 5 is out of range \[0, 5\)/,
  });
  t.throws(() => runOp('gather_rows_forward', { x, index: indices([0, 1], [1, 2]) }), {
    instanceOf: RangeError,
    message: /inputs\.index must have 1 dimensions/,
  });
  const dy = randn([2, 3], 31);
  t.throws(() => runOp('gather_rows_backward', { index: indices([-1, 0]), dy }, { rows: 5 }), {
    instanceOf: RangeError,
    message: /inputs\.index\[0\] = -1 is out of range/,
  });
  t.throws(() => runOp('gather_rows_backward', { index: indices([0, 1, 2]), dy }, { rows: 5 }), {
    instanceOf: RangeError,
    message: /inputs\.dy\.shape\[0\] must be 3/,
  });
  t.throws(() => runOp('gather_rows_backward', { index: indices([0, 1]), dy }, { rows: -1 }), {
    instanceOf: RangeError,
    message: /attrs\.rows must be ≥ 0/,
  });
});

// MONAI's proj_feat: x.view(N, Gh, Gw, Gd, E).permute(0, 4, 1, 2, 3), written out.
function projFeatRef(x: Tensor, grid: [number, number, number]): Float32Array {
  const [N, P, E] = x.shape;
  const y = new Float32Array(N * E * P);
  for (let n = 0; n < N; n++)
    for (let gh = 0; gh < grid[0]; gh++)
      for (let gw = 0; gw < grid[1]; gw++)
        for (let gd = 0; gd < grid[2]; gd++) {
          const q = (gh * grid[1] + gw) * grid[2] + gd;
          for (let e = 0; e < E; e++) y[((n * E + e) * grid[0] + gh) * grid[1] * grid[2] + gw * grid[2] + gd] = x.data[(n * P + q) * E + e];
        }
  return y;
}

test('tokens to volume is MONAI proj_feat, and its backward passes a finite-difference check', async (t) => {
  // Odd sizes: P = 3·5·2 = 30 tokens of width 37 (neither a tile multiple), and a single token.
  for (const [N, grid, E, seed] of [
    [2, [3, 5, 2], 37, 40],
    [1, [1, 1, 1], 5, 41],
    [3, [2, 2, 2], 64, 42],
  ] as [number, [number, number, number], number, number][]) {
    const P = grid[0] * grid[1] * grid[2];
    const x = randn([N, P, E], seed);
    const y = await ops.tokensToVolumeForward(x, grid);
    t.deepEqual(y.shape, [N, E, ...grid]);
    t.deepEqual(Array.from(y.data), Array.from(projFeatRef(x, grid)));
    // The backward is the inverse permutation, and adds: exact on a zero start.
    const dx = await ops.tokensToVolumeBackward(y);
    t.deepEqual(dx.shape, x.shape);
    t.deepEqual(Array.from(dx.data), Array.from(x.data));
  }
  await gradcheck(t, {
    inputs: { x: randn([2, 6, 5], 43) },
    wrt: ['x'],
    forward: async (i) => [await ops.tokensToVolumeForward(i.x, [1, 3, 2])],
    backward: async (_, [d]) => ({ x: await ops.tokensToVolumeBackward(d) }),
  });
});

test('tokens to volume ops reject bad arguments with typed errors', (t) => {
  const x = randn([2, 6, 5], 44);
  t.throws(() => runOp('tokens_to_volume_forward', { x }, { grid: [2, 2, 2] }), {
    instanceOf: RangeError,
    message: /attrs\.grid \[2, 2, 2\] holds 8 patches, inputs\.x dim 1 \(P\) is 6/,
  });
  t.throws(() => runOp('tokens_to_volume_forward', { x }, { grid: [6, 1] }), { instanceOf: RangeError, message: /attrs\.grid must be \[Gh, Gw, Gd\]/ });
  t.throws(() => runOp('tokens_to_volume_forward', { x }), { instanceOf: TypeError, message: /attrs\.grid is required/ });
  t.throws(() => runOp('tokens_to_volume_forward', { x: randn([6, 5], 45) }, { grid: [1, 2, 3] }), { instanceOf: RangeError, message: /inputs\.x must have 3 dimensions/ });
  t.throws(() => runOp('tokens_to_volume_backward', { dy: randn([2, 5, 6], 46) }), { instanceOf: RangeError, message: /inputs\.dy must have 5 dimensions/ });
});
