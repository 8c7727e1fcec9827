import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { type Tensor, indices } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn, randu } from '../helpers/random.js';

// The definition (spec §1, §2.1), float64 sums: patch q = (gh·Gw + gw)·Gd + gd,
// y[n, q, e] = sw[n, e]·Σ_{c, ph, pw, pd} w[e, c, ph, pw, pd]·x[n, c, gh·p+ph, gw·p+pw, gd·p+pd] + sb[n, e]·b[e].
function patchEmbedRef(x: Tensor, w: Tensor, p: number, b?: Tensor, sw?: Tensor, sb?: Tensor): Tensor {
  const [N, C, H, W, D] = x.shape;
  const E = w.shape[0];
  const [Gh, Gw, Gd] = [H / p, W / p, D / p];
  const P = Gh * Gw * Gd;
  const y = new Float32Array(N * P * E);
  for (let n = 0; n < N; n++)
    for (let gh = 0; gh < Gh; gh++)
      for (let gw = 0; gw < Gw; gw++)
        for (let gd = 0; gd < Gd; gd++) {
          const q = (gh * Gw + gw) * Gd + gd;
          for (let e = 0; e < E; e++) {
            let s = 0;
            for (let c = 0; c < C; c++)
              for (let ph = 0; ph < p; ph++)
                for (let pw = 0; pw < p; pw++)
                  for (let pd = 0; pd < p; pd++)
                    s +=
                      w.data[(((e * C + c) * p + ph) * p + pw) * p + pd] *
                      x.data[(((n * C + c) * H + gh * p + ph) * W + gw * p + pw) * D + gd * p + pd];
            const scale = sw ? sw.data[n * E + e] : 1;
            const shift = b ? b.data[e] * (sb ? sb.data[n * E + e] : 1) : 0;
            y[(n * P + q) * E + e] = scale * s + shift;
          }
        }
  return { data: y, shape: [N, P, E] };
}

const tol = { rtol: 1e-4, atol: 1e-5 };
// Odd shapes: N = 2, C = 3, E = 5, p = 2 over 4×6×2 → a 2×3×1 grid, P = 6.
const x = randn([2, 3, 4, 6, 2], 1);
const w = randn([5, 3, 2, 2, 2], 2, 0.3);
const b = randn([5], 3);
const sw = randu([2, 5], 4, 0.5, 1.5);
const sb = randu([2, 5], 5, 0.5, 1.5);

test('patch embedding forward matches the definition (plain and DCT)', async (t) => {
  const plain = await ops.patchEmbedForward(x, { w, b }, 2);
  t.deepEqual(plain.shape, [2, 6, 5]);
  assertClose(t, plain.data, patchEmbedRef(x, w, 2, b).data, tol, 'plain');
  assertClose(t, (await ops.patchEmbedForward(x, { w }, 2)).data, patchEmbedRef(x, w, 2).data, tol, 'no bias');
  const dct = await ops.patchEmbedForward(x, { w, b, sw, sb }, 2);
  assertClose(t, dct.data, patchEmbedRef(x, w, 2, b, sw, sb).data, tol, 'dct');
  assertClose(t, (await ops.patchEmbedForward(x, { w, sw }, 2)).data, patchEmbedRef(x, w, 2, undefined, sw).data, tol, 'sw only');
});

test('patch embedding edge sizes: p = 1, one patch per volume, and a 32³ volume with p = 16', async (t) => {
  const w1 = randn([4, 3, 1, 1, 1], 6);
  const b1 = randn([4], 7);
  assertClose(t, (await ops.patchEmbedForward(x, { w: w1, b: b1 }, 1)).data, patchEmbedRef(x, w1, 1, b1).data, tol, 'p = 1');
  const cube = randn([3, 2, 3, 3, 3], 8);
  const w3 = randn([7, 2, 3, 3, 3], 9);
  const y3 = await ops.patchEmbedForward(cube, { w: w3 }, 3);
  t.deepEqual(y3.shape, [3, 1, 7]);
  assertClose(t, y3.data, patchEmbedRef(cube, w3, 3).data, tol, 'P = 1');
  // The tiny preset's shapes: the patches and the GEMM split across threads.
  const vol = randn([2, 1, 32, 32, 32], 10);
  const w16 = randn([48, 1, 16, 16, 16], 11, 0.05);
  const b16 = randn([48], 12);
  const s16 = randu([2, 48], 13, 0.5, 1.5);
  assertClose(t, (await ops.patchEmbedForward(vol, { w: w16, b: b16, sw: s16, sb: s16 }, 16)).data,
    patchEmbedRef(vol, w16, 16, b16, s16, s16).data, { rtol: 1e-4, atol: 1e-4 }, '32³, p = 16');
});

test('DCT identities: unit scales give the plain embedding; sw scales the weight per output channel', async (t) => {
  const ones = { data: new Float32Array(10).fill(1), shape: [2, 5] };
  const plain = await ops.patchEmbedForward(x, { w, b }, 2);
  t.deepEqual((await ops.patchEmbedForward(x, { w, b, sw: ones, sb: ones }, 2)).data, plain.data);
  // Sample n with scales (sw[n], sb[n]) equals the plain embedding of that sample alone with
  // W_n = W ⊙ sw[n] and B_n = B ⊙ sb[n] (spec §2.1).
  const dct = await ops.patchEmbedForward(x, { w, b, sw, sb }, 2);
  const per = x.data.length / 2;
  for (let n = 0; n < 2; n++) {
    const wn = { data: w.data.map((v, i) => v * sw.data[n * 5 + Math.floor(i / 24)]), shape: w.shape };
    const bn = { data: b.data.map((v, e) => v * sb.data[n * 5 + e]), shape: b.shape };
    const xn = { data: x.data.slice(n * per, (n + 1) * per), shape: [1, 3, 4, 6, 2] };
    const yn = await ops.patchEmbedForward(xn, { w: wn, b: bn }, 2);
    assertClose(t, dct.data.slice(n * 30, (n + 1) * 30), yn.data, tol, `sample ${n}`);
  }
});

test('patch embedding backward passes a finite-difference check of x, w, b, sw and sb', async (t) => {
  await gradcheck(t, {
    inputs: { x, w, b, sw, sb },
    wrt: ['x', 'w', 'b', 'sw', 'sb'],
    forward: async (i) => [await ops.patchEmbedForward(i.x, { w: i.w, b: i.b, sw: i.sw, sb: i.sb }, 2)],
    backward: async (i, [dy]) => {
      const g = await ops.patchEmbedBackward(i.x, { w: i.w, b: i.b, sw: i.sw, sb: i.sb }, dy, 2);
      return { x: g.dx!, w: g.dw!, b: g.db!, sw: g.dsw!, sb: g.dsb! };
    },
  });
});

test('plain patch embedding backward (no scales, and no bias) passes a finite-difference check', async (t) => {
  await gradcheck(t, {
    inputs: { x, w, b },
    wrt: ['x', 'w', 'b'],
    forward: async (i) => [await ops.patchEmbedForward(i.x, { w: i.w, b: i.b }, 2)],
    backward: async (i, [dy]) => {
      const g = await ops.patchEmbedBackward(i.x, { w: i.w, b: i.b }, dy, 2);
      t.deepEqual(Object.keys(g).sort(), ['db', 'dw', 'dx']);
      return { x: g.dx!, w: g.dw!, b: g.db! };
    },
  });
  await gradcheck(t, {
    inputs: { x, w, sw },
    wrt: ['x', 'w', 'sw'],
    forward: async (i) => [await ops.patchEmbedForward(i.x, { w: i.w, sw: i.sw }, 2)],
    backward: async (i, [dy]) => {
      const g = await ops.patchEmbedBackward(i.x, { w: i.w, sw: i.sw }, dy, 2);
      return { x: g.dx!, w: g.dw!, sw: g.dsw! };
    },
  });
});

test('patch embedding backward: requested subsets match the full call; runs are bit-identical', async (t) => {
  const dy = randn([2, 6, 5], 20);
  const params = { w, b, sw, sb };
  const all = await ops.patchEmbedBackward(x, params, dy, 2);
  t.deepEqual(all, await ops.patchEmbedBackward(x, params, dy, 2));
  const some = await ops.patchEmbedBackward(x, params, dy, 2, { dx: false, dw: false, db: false });
  t.deepEqual(Object.keys(some).sort(), ['dsb', 'dsw']);
  t.deepEqual(some.dsw!.data, all.dsw!.data);
  t.deepEqual(some.dsb!.data, all.dsb!.data);
  const dxOnly = await ops.patchEmbedBackward(x, params, dy, 2, { dw: false, db: false, dsw: false, dsb: false });
  t.deepEqual(Object.keys(dxOnly), ['dx']);
  t.deepEqual(dxOnly.dx!.data, all.dx!.data);
});

test('patch embedding rejects bad arguments with typed errors', (t) => {
  t.throws(() => runOp('patch_embed_forward', { x: randn([1, 3, 4, 5, 2], 30), w }, { p: 2 }), {
    instanceOf: RangeError,
    message: /volume size 4x5x2 of inputs\.x is not divisible by attrs\.p = 2/,
  });
  t.throws(() => runOp('patch_embed_forward', { x, w: randn([5, 2, 2, 2, 2], 31) }, { p: 2 }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[1\] must be 3 \(the channels of x\)/,
  });
  t.throws(() => runOp('patch_embed_forward', { x, w }, { p: 1 }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[2\] must be 1 \(attrs\.p\)/,
  });
  t.throws(() => runOp('patch_embed_forward', { x }, { p: 2 }), { instanceOf: TypeError, message: /inputs\.w is required/ });
  t.throws(() => runOp('patch_embed_forward', { x, w }), { instanceOf: TypeError, message: /attrs\.p is required/ });
  t.throws(() => runOp('patch_embed_forward', { x, w }, { p: 0 }), { instanceOf: RangeError, message: /attrs\.p must be at least 1/ });
  t.throws(() => runOp('patch_embed_forward', { x, w: { data: new Int32Array(120), shape: [5, 3, 2, 2, 2] } }, { p: 2 }), {
    instanceOf: TypeError,
    message: /inputs\.w must be float32/,
  });
  t.throws(() => runOp('patch_embed_forward', { x, w, b, sw: randn([3, 5], 32) }, { p: 2 }), {
    instanceOf: RangeError,
    message: /inputs\.sw must have shape \[2,5\]/,
  });
  t.throws(() => runOp('patch_embed_forward', { x, w, sb }, { p: 2 }), {
    instanceOf: TypeError,
    message: /inputs\.sb scales the bias, so inputs\.b is required/,
  });
  t.throws(() => runOp('patch_embed_backward', { x, w, dy: randn([2, 5, 5], 33) }, { p: 2 }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[2,6,5\]/,
  });
  t.throws(() => runOp('patch_embed_backward', { x, w, dy: randn([2, 6, 5], 34) }, { p: 2, db: true }), {
    instanceOf: TypeError,
    message: /attrs\.db asks for the gradient of inputs\.b, which is absent/,
  });
});

// Patch rows by definition: row (n, q) holds x[n, c, gh·p+ph, gw·p+pw, gd·p+pd] in (c, ph, pw, pd) order.
function patchifyRef(x: Tensor, p: number): Tensor {
  const [N, C, H, W, D] = x.shape;
  const [Gw, Gd] = [W / p, D / p];
  const P = (H / p) * Gw * Gd;
  const K = C * p ** 3;
  const out = new Float32Array(N * P * K);
  for (let n = 0; n < N; n++)
    for (let q = 0; q < P; q++) {
      const [gh, gw, gd] = [Math.floor(q / (Gw * Gd)), Math.floor(q / Gd) % Gw, q % Gd];
      let k = 0;
      for (let c = 0; c < C; c++)
        for (let ph = 0; ph < p; ph++)
          for (let pw = 0; pw < p; pw++)
            for (let pd = 0; pd < p; pd++)
              out[(n * P + q) * K + k++] = x.data[(((n * C + c) * H + gh * p + ph) * W + gw * p + pw) * D + gd * p + pd];
    }
  return { data: out, shape: [N, P, K] };
}

test('patchify lays patches out as rows; its backward puts them back (exact inverse)', async (t) => {
  const rows = await ops.patchifyForward(x, 2);
  t.deepEqual(rows.shape, [2, 6, 24]);
  t.deepEqual(rows.data, patchifyRef(x, 2).data);
  t.deepEqual((await ops.patchifyBackward(rows, 2, [4, 6, 2])).data, x.data);
  const vol = randn([2, 1, 32, 32, 48], 40);
  const big = await ops.patchifyForward(vol, 16);
  t.deepEqual(big.data, patchifyRef(vol, 16).data);
  t.deepEqual((await ops.patchifyBackward(big, 16, [32, 32, 48])).data, vol.data);
  t.throws(() => runOp('patchify_backward', { dpatches: rows }, { p: 2, input_size: [4, 6, 4] }), {
    instanceOf: RangeError,
    message: /inputs\.dpatches\.shape\[1\] must be 12 \(the patches of attrs\.input_size\)/,
  });
  t.throws(() => runOp('patchify_forward', { x }, { p: 4 }), { instanceOf: RangeError, message: /4x6x2 of inputs\.x is not divisible by attrs\.p = 4/ });
});

// Kept rows of both samples of x, ascending per sample, and their segments (sample 1 keeps one).
const kept = [[0, 2, 3, 5], [4]];
async function keptRows(): Promise<Tensor> {
  const all = await ops.patchifyForward(x, 2);
  const rows = kept.flatMap((qs, n) => qs.map((q) => n * 6 + q));
  return ops.gatherRowsForward({ data: all.data, shape: [12, 24] }, indices(rows));
}
const keptOffsets = indices([0, 4, 5]);

test('patch embedding of chosen rows equals the volume embedding at those patches', async (t) => {
  const rows = await keptRows();
  const full = patchEmbedRef(x, w, 2, b, sw, sb);
  const expect = kept.flatMap((qs, n) => qs.flatMap((q) => Array.from(full.data.subarray((n * 6 + q) * 5, (n * 6 + q + 1) * 5))));
  const { y, z } = await ops.patchEmbedRowsForward(rows, keptOffsets, { w, b, sw, sb });
  t.deepEqual(y.shape, [5, 5]);
  assertClose(t, y.data, expect, tol, 'dct rows');
  const plain = patchEmbedRef(x, w, 2);
  assertClose(t, z.data, kept.flatMap((qs, n) => qs.flatMap((q) => Array.from(plain.data.subarray((n * 6 + q) * 5, (n * 6 + q + 1) * 5)))), tol, 'z');
  // An empty segment takes no rows and leaves the others' scales in place.
  const withEmpty = await ops.patchEmbedRowsForward(rows, indices([0, 4, 4, 5]), {
    w, b, sw: randn([3, 5], 41), sb: randn([3, 5], 42),
  });
  t.deepEqual(withEmpty.z.data, z.data);
});

test('patch embedding of rows: backward passes a finite-difference check of every input', async (t) => {
  const rows = await keptRows();
  await gradcheck(t, {
    inputs: { rows, w, b, sw, sb },
    wrt: ['rows', 'w', 'b', 'sw', 'sb'],
    forward: async (i) => [(await ops.patchEmbedRowsForward(i.rows, keptOffsets, { w: i.w, b: i.b, sw: i.sw, sb: i.sb })).y],
    backward: async (i, [dy]) => {
      const params = { w: i.w, b: i.b, sw: i.sw, sb: i.sb };
      const { z } = await ops.patchEmbedRowsForward(i.rows, keptOffsets, params);
      const g = await ops.patchEmbedRowsBackward(i.rows, keptOffsets, params, z, dy);
      return { rows: g.dpatches!, w: g.dw!, b: g.db!, sw: g.dsw!, sb: g.dsb! };
    },
  });
  const dy = randn([5, 5], 43);
  t.throws(() => runOp('patch_embed_rows_backward', { patches: rows, offsets: keptOffsets, w, b, sw, sb, dy }), {
    instanceOf: TypeError,
    message: /the gradient of inputs\.sw needs inputs\.z/,
  });
  t.throws(() => runOp('patch_embed_rows_forward', { patches: rows, offsets: indices([0, 4, 6]), w }), {
    instanceOf: RangeError,
    message: /inputs\.offsets\[2\] = 6 must be 5 \(the rows of inputs\.patches\)/,
  });
  t.throws(() => runOp('patch_embed_rows_forward', { patches: rows, offsets: keptOffsets, w: randn([5, 3, 2, 2, 1], 44) }), {
    instanceOf: RangeError,
    message: /inputs\.w must hold 24 values per embedding channel/,
  });
});
