import test from 'ava';
import { indices, ops, type IndexTensor, type Tensor } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn, randu, rng } from '../helpers/random.js';

// Naive references in float64, written from the definitions.
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function diceRef(x: ArrayLike<number>, g: ArrayLike<number>, shape: number[]): number {
  const rows = shape[0] * shape[1];
  const V = x.length / rows;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let inter = 0;
    let sp = 0;
    let sg = 0;
    for (let i = r * V; i < (r + 1) * V; i++) {
      const p = sigmoid(x[i]);
      inter += p * g[i];
      sp += p;
      sg += g[i];
    }
    total += 1 - (2 * inter + 1e-5) / (sp + sg + 1e-5);
  }
  return total / rows;
}

function mseRef(p: ArrayLike<number>, t: ArrayLike<number>, mask: ArrayLike<number>, L: number, normPix: boolean) {
  let sum = 0;
  let n = 0;
  for (let r = 0; r < mask.length; r++) {
    if (!mask[r]) continue;
    n++;
    const row = Array.from({ length: L }, (_, j) => t[r * L + j]);
    let mean = 0;
    let std = 1;
    if (normPix) {
      mean = row.reduce((a, b) => a + b, 0) / L;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / (L - 1);
      std = Math.sqrt(variance + 1e-6);
    }
    for (let j = 0; j < L; j++) sum += (p[r * L + j] - (row[j] - mean) / std) ** 2;
  }
  return n ? sum / (n * L) : 0;
}

/** Central differences of a float64 reference at the given indices (all when omitted). */
function fdRef(f: (x: Float64Array) => number, x: Float32Array, at?: number[], h = 1e-5): number[] {
  const xd = Float64Array.from(x);
  return (at ?? [...xd.keys()]).map((i) => {
    const orig = xd[i];
    xd[i] = orig + h;
    const hi = f(xd);
    xd[i] = orig - h;
    const lo = f(xd);
    xd[i] = orig;
    return (hi - lo) / (2 * h);
  });
}

const scalarT = (v: number): Tensor => ({ data: Float32Array.of(v), shape: [1] });
const binary = (shape: number[], seed: number): Tensor => {
  const u = randu(shape, seed, 0, 1);
  return { data: u.data.map((v) => (v < 0.3 ? 1 : 0)), shape };
};
const maskOf = (R: number, seed: number, p = 0.6): IndexTensor => {
  const r = rng(seed);
  return indices(Array.from({ length: R }, () => (r() < p ? 1 : 0)));
};

test('dice loss forward matches MONAI DiceLoss(sigmoid=True) written out, binary and soft targets', async (t) => {
  for (const [shape, seed] of [
    [[2, 3, 37], 1],
    [[2, 1, 3, 4, 5], 2],
    [[1, 1], 3],
  ] as [number[], number][]) {
    const x = randn(shape, seed, 2);
    for (const g of [binary(shape, seed + 10), randu(shape, seed + 20, 0, 1)]) {
      const loss = await ops.diceLossForward(x, g);
      assertClose(t, [loss], [diceRef(x.data, g.data, shape)], { rtol: 1e-6, atol: 1e-7 }, `loss ${shape}`);
    }
  }
  // A perfect confident prediction has loss ≈ 0; an empty target and empty prediction too (smoothing).
  const g = binary([1, 2, 50], 4);
  t.true((await ops.diceLossForward({ data: g.data.map((v) => (v ? 30 : -30)), shape: g.shape }, g)) < 1e-6);
  t.true((await ops.diceLossForward({ data: new Float32Array(8).fill(-30), shape: [1, 1, 8] }, { data: new Float32Array(8), shape: [1, 1, 8] })) < 1e-3);
});

test('dice loss backward matches finite differences (native gradcheck and float64 reference)', async (t) => {
  const shape = [2, 3, 37];
  const x = randn(shape, 5, 2);
  const g = binary(shape, 6);
  await gradcheck(t, {
    inputs: { x },
    wrt: ['x'],
    forward: async (i) => [scalarT(await ops.diceLossForward(i.x, g))],
    backward: async (i, [dy]) => ({ x: await ops.diceLossBackward(i.x, g, dy.data[0]) }),
    eps: 5e-2,
    atol: 2e-5,
    samples: 40,
  });
  const dloss = 0.7;
  const dx = await ops.diceLossBackward(x, g, dloss);
  const ref = fdRef((xd) => dloss * diceRef(xd, g.data, shape), x.data);
  assertClose(t, dx.data, ref, { rtol: 1e-4, atol: 1e-8 }, 'dlogits');
});

test('dice loss on rows longer than a chunk: several partial sums per row, extreme logits stay finite', async (t) => {
  const shape = [1, 2, 20001];
  const x = randn(shape, 7, 3);
  x.data[5] = 200;
  x.data[20010] = -200;
  const g = binary(shape, 8);
  assertClose(t, [await ops.diceLossForward(x, g)], [diceRef(x.data, g.data, shape)], { rtol: 1e-6, atol: 1e-7 });
  const dx = await ops.diceLossBackward(x, g);
  t.true(dx.data.every(Number.isFinite));
  const at = [0, 5, 8191, 8192, 8193, 20000, 20001, 20010, 28383, 40001];
  const ref = fdRef((xd) => diceRef(xd, g.data, shape), x.data, at, 1e-3);
  assertClose(t, at.map((i) => dx.data[i]), ref, { rtol: 1e-4, atol: 1e-12 }, 'dlogits');
});

test('masked MSE forward matches the definition, with and without norm_pix', async (t) => {
  const [R, L] = [13, 37];
  const p = randn([R, L], 9);
  const tg = randn([R, L], 10, 2);
  const mask = maskOf(R, 11);
  for (const normPix of [false, true]) {
    const loss = await ops.maskedMseForward(p, tg, mask, { normPix });
    assertClose(t, [loss], [mseRef(p.data, tg.data, mask.data, L, normPix)], { rtol: 1e-6, atol: 1e-7 }, `normPix ${normPix}`);
  }
  // Unmasked rows do not count, whatever they hold.
  const other = { data: p.data.slice(), shape: p.shape };
  for (let r = 0; r < R; r++) if (!mask.data[r]) other.data.fill(1e6, r * L, (r + 1) * L);
  t.is(await ops.maskedMseForward(other, tg, mask), await ops.maskedMseForward(p, tg, mask));
});

test('masked MSE backward matches finite differences, unmasked rows get no gradient', async (t) => {
  const [R, L] = [7, 19];
  const p = randn([R, L], 12);
  const tg = randn([R, L], 13, 3);
  const mask = indices([1, 0, 1, 1, 0, 0, 1]);
  for (const normPix of [false, true]) {
    await gradcheck(t, {
      inputs: { p },
      wrt: ['p'],
      forward: async (i) => [scalarT(await ops.maskedMseForward(i.p, tg, mask, { normPix }))],
      backward: async (i, [dy]) => ({ p: await ops.maskedMseBackward(i.p, tg, mask, dy.data[0], { normPix }) }),
      eps: 1e-2,
      atol: 5e-5,
      samples: 40,
    });
    const dp = await ops.maskedMseBackward(p, tg, mask, 1.3, { normPix });
    const ref = fdRef((pd) => 1.3 * mseRef(pd, tg.data, mask.data, L, normPix), p.data);
    assertClose(t, dp.data, ref, { rtol: 1e-4, atol: 1e-8 }, `dpred (normPix ${normPix})`);
    for (let r = 0; r < R; r++) {
      if (!mask.data[r]) t.true(dp.data.subarray(r * L, (r + 1) * L).every((v) => v === 0), `row ${r} is not masked`);
    }
  }
});

test('masked MSE with no masked row is 0 with a zero gradient, not NaN', async (t) => {
  const p = randn([5, 8], 14);
  const tg = randn([5, 8], 15);
  const none = indices(new Int32Array(5));
  for (const normPix of [false, true]) {
    t.is(await ops.maskedMseForward(p, tg, none, { normPix }), 0);
    const dp = await ops.maskedMseBackward(p, tg, none, 1, { normPix });
    t.true(dp.data.every((v) => v === 0));
  }
  // No rows at all, and rows of length 1 without norm_pix, are fine too.
  t.is(await ops.maskedMseForward({ data: new Float32Array(0), shape: [0, 4] }, { data: new Float32Array(0), shape: [0, 4] }, indices([])), 0);
  const one = await ops.maskedMseForward({ data: Float32Array.of(1, 2), shape: [2, 1] }, { data: Float32Array.of(0, 0), shape: [2, 1] }, indices([0, 1]));
  t.is(one, 4);
});

test('masked MSE on many long rows (several tasks) matches the definition', async (t) => {
  const [R, L] = [41, 1000];
  const p = randn([R, L], 16);
  const tg = randn([R, L], 17, 2);
  const mask = maskOf(R, 18, 0.7);
  for (const normPix of [false, true]) {
    assertClose(t, [await ops.maskedMseForward(p, tg, mask, { normPix })], [mseRef(p.data, tg.data, mask.data, L, normPix)], { rtol: 1e-6, atol: 0 });
  }
});

test('loss ops are deterministic: repeated calls give identical bits', async (t) => {
  const x = randn([2, 2, 30011], 19, 2);
  const g = randu([2, 2, 30011], 20, 0, 1);
  const p = randn([301, 211], 21);
  const tg = randn([301, 211], 22);
  const mask = maskOf(301, 23);
  const run = async () => [
    Float32Array.of(await ops.diceLossForward(x, g)),
    (await ops.diceLossBackward(x, g)).data,
    Float32Array.of(await ops.maskedMseForward(p, tg, mask, { normPix: true })),
    (await ops.maskedMseBackward(p, tg, mask, 1, { normPix: true })).data,
  ];
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const first = await run();
  for (let k = 0; k < 2; k++) {
    const again = await run();
    first.forEach((a, i) => t.true(bytes(again[i]).equals(bytes(a)), `output ${i}, run ${k + 2}`));
  }
});

test('loss ops reject bad arguments with typed errors', (t) => {
  const x = randn([2, 3, 4], 24);
  const g = binary([2, 3, 4], 25);
  const dloss = scalarT(1);
  t.throws(() => runOp('dice_loss_forward', { logits: x, target: randn([2, 3, 5], 1) }), { instanceOf: RangeError, message: /inputs\.target must have shape \[2,3,4\]/ });
  t.throws(() => runOp('dice_loss_forward', { logits: x, target: { data: g.data.map((v) => v * 2), shape: g.shape } }), { instanceOf: RangeError, message: /inputs\.target\[\d+\] = 2\.0+ is outside \[0, 1\]/ });
  t.throws(() => runOp('dice_loss_forward', { logits: x, target: { data: g.data.map(() => NaN), shape: g.shape } }), { instanceOf: RangeError, message: /inputs\.target\[0\]/ });
  t.throws(() => runOp('dice_loss_forward', { logits: randn([4], 1), target: randu([4], 1, 0, 1) }), { instanceOf: RangeError, message: /inputs\.logits must be \[N, C, \.\.\.spatial\]/ });
  t.throws(() => runOp('dice_loss_forward', { logits: randn([0, 3, 4], 1), target: randn([0, 3, 4], 1) }), { instanceOf: RangeError, message: /inputs\.logits needs N, C/ });
  t.throws(() => runOp('dice_loss_backward', { logits: x, target: g }), { instanceOf: TypeError, message: /inputs\.dloss is required/ });
  t.throws(() => runOp('dice_loss_backward', { logits: x, target: g, dloss: randn([2], 1) }), { instanceOf: RangeError, message: /inputs\.dloss\.shape\[0\] must be 1/ });

  const p = randn([3, 4], 26);
  const mask = indices([1, 0, 1]);
  t.throws(() => runOp('masked_mse_forward', { pred: p, target: p, mask: indices([1, 0]) }), { instanceOf: RangeError, message: /inputs\.mask\.shape\[0\] must be 3/ });
  t.throws(() => runOp('masked_mse_forward', { pred: p, target: p, mask: indices([1, 2, 0]) }), { instanceOf: RangeError, message: /inputs\.mask\[1\] = 2 must be 0 or 1/ });
  t.throws(() => runOp('masked_mse_forward', { pred: p, target: p, mask: randn([3], 1) }), { instanceOf: TypeError, message: /inputs\.mask must be int32/ });
  t.throws(() => runOp('masked_mse_forward', { pred: p, target: randn([3, 5], 1), mask }), { instanceOf: RangeError, message: /inputs\.target must have shape \[3,4\]/ });
  t.throws(() => runOp('masked_mse_forward', { pred: randn([12], 1), target: randn([12], 1), mask }), { instanceOf: RangeError, message: /inputs\.pred must have 2 dimensions/ });
  t.throws(() => runOp('masked_mse_forward', { pred: p, target: p, mask }, { norm_pix: 2 }), { instanceOf: TypeError, message: /attrs\.norm_pix must be a boolean/ });
  const col = randn([3, 1], 27);
  t.throws(() => runOp('masked_mse_forward', { pred: col, target: col, mask }, { norm_pix: true }), { instanceOf: RangeError, message: /attrs\.norm_pix needs rows of at least 2 values/ });
  t.throws(() => runOp('masked_mse_backward', { pred: col, target: col, mask, dloss }, { norm_pix: true }), { instanceOf: RangeError, message: /attrs\.norm_pix/ });
  t.throws(() => runOp('masked_mse_backward', { pred: p, target: p, mask, dloss: randn([1, 1], 1) }), { instanceOf: RangeError, message: /inputs\.dloss must have 1 dimensions/ });
});
