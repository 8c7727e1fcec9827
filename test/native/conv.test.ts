import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasTorch, systemPython } from '../../bench/util.js';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import type { Tensor } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

// Naive references, written from the definitions (float64 sums).
function conv3dRef(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [N, Ci, H, W, D] = x.shape;
  const [Co, , k] = w.shape;
  const pad = Math.floor(k / 2);
  const y = new Float32Array(N * Co * H * W * D);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Co; o++)
      for (let h = 0; h < H; h++)
        for (let v = 0; v < W; v++)
          for (let d = 0; d < D; d++) {
            let s = b ? b.data[o] : 0;
            for (let i = 0; i < Ci; i++)
              for (let a = 0; a < k; a++)
                for (let c = 0; c < k; c++)
                  for (let e = 0; e < k; e++) {
                    const hh = h + a - pad, vv = v + c - pad, dd = d + e - pad;
                    if (hh < 0 || hh >= H || vv < 0 || vv >= W || dd < 0 || dd >= D) continue;
                    s += w.data[(((o * Ci + i) * k + a) * k + c) * k + e] * x.data[(((n * Ci + i) * H + hh) * W + vv) * D + dd];
                  }
            y[(((n * Co + o) * H + h) * W + v) * D + d] = s;
          }
  return { data: y, shape: [N, Co, H, W, D] };
}

function convTranspose3dRef(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [N, Ci, H, W, D] = x.shape;
  const Co = w.shape[1];
  const y = new Float32Array(N * Co * 8 * H * W * D);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Co; o++)
      for (let h = 0; h < 2 * H; h++)
        for (let v = 0; v < 2 * W; v++)
          for (let d = 0; d < 2 * D; d++) {
            let s = b ? b.data[o] : 0;
            const kk = ((h % 2) * 2 + (v % 2)) * 2 + (d % 2);
            const at = ((h >> 1) * W + (v >> 1)) * D + (d >> 1);
            for (let i = 0; i < Ci; i++) s += x.data[(n * Ci + i) * H * W * D + at] * w.data[(i * Co + o) * 8 + kk];
            y[(((n * Co + o) * 2 * H + h) * 2 * W + v) * 2 * D + d] = s;
          }
  return { data: y, shape: [N, Co, 2 * H, 2 * W, 2 * D] };
}

const tol = { rtol: 1e-4, atol: 1e-5 };

function dot(a: ArrayLike<number>, c: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * c[i];
  return s;
}

test('conv3d k=3 forward matches the definition (odd shapes, bias)', async (t) => {
  const x = randn([2, 3, 5, 4, 3], 1);
  const w = randn([5, 3, 3, 3, 3], 2, 0.3);
  const b = randn([5], 3);
  const y = await ops.conv3dForward(x, w, b);
  t.deepEqual(y.shape, [2, 5, 5, 4, 3]);
  assertClose(t, y.data, conv3dRef(x, w, b).data, tol);
});

test('conv3d k=1 forward matches the definition (no bias)', async (t) => {
  const x = randn([2, 3, 5, 4, 3], 4);
  const w = randn([5, 3, 1, 1, 1], 5);
  const y = await ops.conv3dForward(x, w);
  assertClose(t, y.data, conv3dRef(x, w).data, tol);
});

test('conv3d on 1-voxel and thin volumes, single channels', async (t) => {
  for (const [Ci, Co, k, H, W, D] of [
    [1, 1, 3, 1, 1, 1],
    [4, 2, 3, 1, 1, 1],
    [1, 3, 1, 1, 1, 1],
    [2, 3, 3, 1, 2, 2],
    [3, 2, 3, 2, 1, 2],
    [2, 2, 3, 3, 2, 1],
  ]) {
    const x = randn([3, Ci, H, W, D], 6 + Ci + D);
    const w = randn([Co, Ci, k, k, k], 7 + Co);
    const b = randn([Co], 8);
    const label = `Ci ${Ci} Co ${Co} k ${k} volume ${H}x${W}x${D}`;
    assertClose(t, (await ops.conv3dForward(x, w, b)).data, conv3dRef(x, w, b).data, tol, label);
    // The backward's shifts and the flipped kernel at the same edges: the adjoint identity
    // <dx, v> = <dy, conv(v)> and <dw, u> = <dy, conv_u(x)>, exact for linear maps.
    const dy = randn([3, Co, H, W, D], 9);
    const g = await ops.conv3dBackward(x, w, dy, { db: false });
    const v = randn(x.shape, 10);
    const u = randn(w.shape, 11);
    assertClose(t, [dot(g.dx!.data, v.data)], [dot(conv3dRef(v, w).data, dy.data)], tol, `${label} dx`);
    assertClose(t, [dot(g.dw!.data, u.data)], [dot(conv3dRef(x, u).data, dy.data)], tol, `${label} dw`);
  }
});

test('conv3d splits a larger volume into several tasks and partials consistently', async (t) => {
  // A task buffers (9·Ci + 3·Co)·D = 3360 floats per (h, w) row, so it holds 39 rows: the 96 rows
  // make 3 tasks per sample, with boundaries inside a plane.
  const x = randn([2, 8, 8, 12, 40], 9);
  const w = randn([4, 8, 3, 3, 3], 10, 0.2);
  const b = randn([4], 11);
  assertClose(t, (await ops.conv3dForward(x, w, b)).data, conv3dRef(x, w, b).data, tol, 'forward');
  // The backward through the adjoint identity (as above): one reference call per gradient.
  const dy = randn([2, 4, 8, 12, 40], 12);
  const g = await ops.conv3dBackward(x, w, dy);
  const vx = randn(x.shape, 13);
  const vw = randn(w.shape, 14);
  assertClose(t, [dot(g.dx!.data, vx.data)], [dot(conv3dRef(vx, w).data, dy.data)], { rtol: 1e-4 }, 'dx');
  assertClose(t, [dot(g.dw!.data, vw.data)], [dot(conv3dRef(x, vw).data, dy.data)], { rtol: 1e-4 }, 'dw');
  const db = Array.from({ length: 4 }, (_, o) => {
    let s = 0;
    for (let n = 0; n < 2; n++) for (let v = 0; v < 8 * 12 * 40; v++) s += dy.data[(n * 4 + o) * 8 * 12 * 40 + v];
    return s;
  });
  assertClose(t, g.db!.data, db, { rtol: 1e-4, atol: 1e-3 }, 'db');
});

for (const k of [1, 3]) {
  test(`conv3d k=${k} backward passes a finite-difference check of x, w and b`, async (t) => {
    await gradcheck(t, {
      inputs: { x: randn([2, 3, 4, 3, 5], 20 + k), w: randn([2, 3, k, k, k], 21 + k, 0.5), b: randn([2], 22) },
      wrt: ['x', 'w', 'b'],
      forward: async (i) => [await ops.conv3dForward(i.x, i.w, i.b)],
      backward: async (i, [dy]) => {
        const g = await ops.conv3dBackward(i.x, i.w, dy);
        return { x: g.dx!, w: g.dw!, b: g.db! };
      },
    });
  });
}

test('conv3d backward computes only the requested gradients, with the same values', async (t) => {
  const x = randn([2, 3, 5, 4, 3], 30);
  const w = randn([5, 3, 3, 3, 3], 31);
  const dy = randn([2, 5, 5, 4, 3], 32);
  const all = await ops.conv3dBackward(x, w, dy);
  const onlyDw = await ops.conv3dBackward(x, w, dy, { dx: false, db: false });
  t.deepEqual(Object.keys(onlyDw), ['dw']);
  t.deepEqual(onlyDw.dw!.data, all.dw!.data);
  const onlyDx = await ops.conv3dBackward(x, w, dy, { dw: false, db: false });
  t.deepEqual(Object.keys(onlyDx), ['dx']);
  t.deepEqual(onlyDx.dx!.data, all.dx!.data);
});

test('conv_transpose3d forward matches the definition', async (t) => {
  const x = randn([2, 3, 3, 2, 5], 40);
  const w = randn([3, 5, 2, 2, 2], 41);
  const b = randn([5], 42);
  const y = await ops.convTranspose3dForward(x, w, b);
  t.deepEqual(y.shape, [2, 5, 6, 4, 10]);
  assertClose(t, y.data, convTranspose3dRef(x, w, b).data, tol);
  const one = randn([1, 1, 1, 1, 1], 43);
  const w1 = randn([1, 2, 2, 2, 2], 44);
  assertClose(t, (await ops.convTranspose3dForward(one, w1)).data, convTranspose3dRef(one, w1).data, tol, '1 voxel');
  // 4 output channels × 8 × D = 40 gives 102 rows per task: 144 rows make 2 tasks.
  const big = randn([1, 3, 12, 12, 40], 45);
  const wb = randn([3, 4, 2, 2, 2], 46);
  assertClose(t, (await ops.convTranspose3dForward(big, wb)).data, convTranspose3dRef(big, wb).data, tol, 'several tasks');
});

test('conv_transpose3d backward passes a finite-difference check of x, w and b', async (t) => {
  await gradcheck(t, {
    inputs: { x: randn([2, 3, 2, 3, 2], 50), w: randn([3, 4, 2, 2, 2], 51, 0.5), b: randn([4], 52) },
    wrt: ['x', 'w', 'b'],
    forward: async (i) => [await ops.convTranspose3dForward(i.x, i.w, i.b)],
    backward: async (i, [dy]) => {
      const g = await ops.convTranspose3dBackward(i.x, i.w, dy);
      return { x: g.dx!, w: g.dw!, b: g.db! };
    },
  });
});

test('conv ops reject bad arguments with typed errors', (t) => {
  const x = randn([1, 3, 4, 4, 4], 70);
  const w = randn([2, 3, 3, 3, 3], 71);
  t.throws(() => runOp('conv3d_forward', { x, w: randn([2, 4, 3, 3, 3], 72) }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[1\] must be 3 \(the channels of x\)/,
  });
  t.throws(() => runOp('conv3d_forward', { x, w: randn([2, 3, 5, 5, 5], 73) }), {
    instanceOf: RangeError,
    message: /cubic kernel of size 1 or 3/,
  });
  t.throws(() => runOp('conv3d_forward', { x }), { instanceOf: TypeError, message: /inputs\.w is required/ });
  t.throws(() => runOp('conv3d_forward', { x: { data: new Int32Array(48), shape: [1, 3, 4, 4, 1] }, w }), {
    instanceOf: TypeError,
    message: /inputs\.x must be float32/,
  });
  t.throws(() => runOp('conv3d_forward', { x: randn([3, 4, 4, 4], 74), w }), {
    instanceOf: RangeError,
    message: /inputs\.x must have 5 dimensions/,
  });
  t.throws(() => runOp('conv3d_forward', { x, w, b: randn([3], 75) }), {
    instanceOf: RangeError,
    message: /inputs\.b\.shape\[0\] must be 2/,
  });
  t.throws(() => runOp('conv3d_forward', { x: randn([1, 3, 0, 4, 4], 76), w }), {
    instanceOf: RangeError,
    message: /empty dimension/,
  });
  t.throws(() => runOp('conv3d_backward', { x, w, dy: randn([1, 2, 4, 4, 3], 77) }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[1,2,4,4,4\]/,
  });
  t.throws(() => runOp('conv3d_backward', { x, w, dy: randn([1, 2, 4, 4, 4], 78) }, { dw: 'yes' as never }), {
    instanceOf: TypeError,
    message: /attrs\.dw/,
  });
  t.throws(() => runOp('conv_transpose3d_forward', { x, w: randn([3, 2, 3, 3, 3], 79) }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[2\] must be 2/,
  });
  t.throws(() => runOp('conv_transpose3d_forward', { x, w: randn([2, 3, 2, 2, 2], 80) }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[0\] must be 3 \(the channels of x\)/,
  });
  t.throws(() => runOp('conv_transpose3d_backward', { x, w: randn([3, 2, 2, 2, 2], 81), dy: randn([1, 2, 4, 4, 4], 82) }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[1,2,8,8,8\]/,
  });
});

// PyTorch as an independent implementation: it writes its inputs and results, we recompute.
const torchReason = hasTorch() ? '' : `${systemPython} cannot import torch`;
(torchReason ? test.skip : test)('conv3d and conv_transpose3d agree with PyTorch', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-conv-'));
  try {
    const r = spawnSync(systemPython, [path.join(here, 'torch_conv.py'), dir], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Record<string, Record<string, number[]>>;
    const load = (c: string, name: string): Tensor => {
      const buf = fs.readFileSync(path.join(dir, `${c}.${name}.bin`));
      return { data: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice(), shape: meta[c][name] };
    };
    for (const c of Object.keys(meta)) {
      const [x, w, b, dy] = ['x', 'w', 'b', 'dy'].map((n) => load(c, n));
      const transposed = c.startsWith('transpose');
      const y = transposed ? await ops.convTranspose3dForward(x, w, b) : await ops.conv3dForward(x, w, b);
      const g = transposed ? await ops.convTranspose3dBackward(x, w, dy) : await ops.conv3dBackward(x, w, dy);
      const cmp = { rtol: 1e-4, atol: 1e-4 };
      assertClose(t, y.data, load(c, 'y').data, cmp, `${c} y`);
      assertClose(t, g.dx!.data, load(c, 'dx').data, cmp, `${c} dx`);
      assertClose(t, g.dw!.data, load(c, 'dw').data, { rtol: 1e-4, atol: 1e-3 }, `${c} dw`);
      assertClose(t, g.db!.data, load(c, 'db').data, { rtol: 1e-4, atol: 1e-3 }, `${c} db`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
if (torchReason) console.log(`conv.test: skipping the PyTorch comparison: ${torchReason}`);
