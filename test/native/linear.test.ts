import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import type { Tensor } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { cppCheck } from '../helpers/cpp.js';
import { digest, gemmCases } from '../helpers/gemm-cases.js';
import { randn } from '../helpers/random.js';

// Naive references in float64, written from the definitions.

/** C = alpha · op(A) · op(B) for one batch entry; A is [M, K] or (ta) [K, M], B is [K, N] or (tb) [N, K]. */
function refGemm(a: Float32Array, b: Float32Array, M: number, N: number, K: number, ta: boolean, tb: boolean, alpha = 1) {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      c[i * N + j] = alpha * s;
    }
  return c;
}

function refMatmul(a: Tensor, b: Tensor, ta: boolean, tb: boolean, alpha = 1): Float64Array {
  const [batch, a1, a2] = a.shape;
  const [M, K] = ta ? [a2, a1] : [a1, a2];
  const N = tb ? b.shape[1] : b.shape[2];
  const c = new Float64Array(batch * M * N);
  for (let i = 0; i < batch; i++) {
    const ai = a.data.subarray(i * M * K, (i + 1) * M * K);
    const bi = b.data.subarray(i * K * N, (i + 1) * K * N);
    c.set(refGemm(ai, bi, M, N, K, ta, tb, alpha), i * M * N);
  }
  return c;
}

/** Transpose of a [rows, cols] matrix. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}

/** Float32 sums of K products of N(0,1) values: the error grows with the length of the sum. */
const tol = (K: number) => ({ rtol: 1e-5, atol: 2e-5 * Math.sqrt(K) + 1e-6 });

// [M, N, K]: the trivial ones, odd ones, and ones on either side of the AVX-512 tile (14 × 32),
// the AVX2 tile (6 × 16) and the K block (384; K = 769 makes three blocks).
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [6, 16, 8],
  [14, 32, 384],
  [15, 33, 385],
  [17, 33, 65],
  [29, 65, 9],
  [195, 97, 769],
];
const transposes: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

for (const [ta, tb] of transposes) {
  test(`matmul forward matches the naive product (transA ${ta}, transB ${tb})`, async (t) => {
    for (const [M, N, K] of shapes) {
      const batch = M * N * K > 1e6 ? 1 : 2;
      const a = randn(ta ? [batch, K, M] : [batch, M, K], M + 3 * K);
      const b = randn(tb ? [batch, N, K] : [batch, K, N], N + 5 * K);
      const c = await ops.matmulForward(a, b, { transA: ta, transB: tb });
      t.deepEqual(c.shape, [batch, M, N]);
      assertClose(t, c.data, refMatmul(a, b, ta, tb), tol(K), `c for M=${M} N=${N} K=${K}`);
    }
  });
}

test('matmul forward on matrices taller and wider than one cache block (3072 rows or columns)', async (t) => {
  for (const [M, N, K, tb] of [
    [3100, 33, 50, false],
    [20, 3100, 390, true],
  ] as [number, number, number, boolean][]) {
    const a = randn([1, M, K], M);
    const b = randn(tb ? [1, N, K] : [1, K, N], N);
    const c = await ops.matmulForward(a, b, { transB: tb });
    assertClose(t, c.data, refMatmul(a, b, false, tb), tol(K), `c for M=${M} N=${N} K=${K}`);
  }
});

test('matmul forward scales by alpha and handles empty dimensions', async (t) => {
  const a = randn([2, 17, 40], 11);
  const b = randn([2, 33, 40], 12);
  const c = await ops.matmulForward(a, b, { transB: true, alpha: -0.125 });
  assertClose(t, c.data, refMatmul(a, b, false, true, -0.125), tol(40));
  // K = 0 is an empty sum: zeros, not uninitialised memory.
  const z = await ops.matmulForward(randn([1, 4, 0], 1), randn([1, 0, 5], 2));
  t.deepEqual(z.shape, [1, 4, 5]);
  t.deepEqual(Array.from(z.data), new Array(20).fill(0));
  t.deepEqual((await ops.matmulForward(randn([3, 0, 4], 1), randn([3, 4, 5], 2))).shape, [3, 0, 5]);
  t.deepEqual((await ops.matmulForward(randn([0, 2, 4], 1), randn([0, 4, 5], 2))).shape, [0, 2, 5]);
});

test('batched matmul: many small entries (split over the batch) and a few large ones (each split) match the reference', async (t) => {
  for (const [batch, M, N, K] of [
    [9, 29, 33, 65],
    [3, 130, 70, 400],
  ]) {
    const a = randn([batch, M, K], batch);
    const b = randn([batch, N, K], batch + 1);
    const c = await ops.matmulForward(a, b, { transB: true });
    assertClose(t, c.data, refMatmul(a, b, false, true), tol(K), `batch ${batch}`);
  }
});

test('linear forward is x·wᵀ + b, with and without bias', async (t) => {
  for (const [N, inF, out] of [
    [1, 1, 1],
    [3, 7, 5],
    [17, 65, 33],
    [195, 769, 97],
  ]) {
    const x = randn([N, inF], N);
    const w = randn([out, inF], out);
    const b = randn([out], 3);
    const plain = refGemm(x.data, w.data, N, out, inF, false, true);
    const y0 = await ops.linearForward(x, w);
    t.deepEqual(y0.shape, [N, out]);
    assertClose(t, y0.data, plain, tol(inF), `y without bias, N=${N} in=${inF} out=${out}`);
    const y = await ops.linearForward(x, w, b);
    assertClose(t, y.data, plain.map((v, i) => v + b.data[i % out]), tol(inF), `y with bias, N=${N} in=${inF} out=${out}`);
  }
  // in = 0: the product is empty and y is the bias on every row.
  const y = await ops.linearForward(randn([2, 0], 1), randn([3, 0], 2), { data: Float32Array.from([1, 2, 3]), shape: [3] });
  t.deepEqual(Array.from(y.data), [1, 2, 3, 1, 2, 3]);
});

test('linear backward: dx = dy·w, dw = dyᵀ·x, db = column sums of dy', async (t) => {
  for (const [N, inF, out] of [
    [1, 1, 1],
    [3, 7, 5],
    [195, 97, 769],
  ]) {
    const x = randn([N, inF], 21);
    const w = randn([out, inF], 22);
    const dy = randn([N, out], 23);
    const g = await ops.linearBackward(x, w, dy);
    t.deepEqual(g.dx.shape, [N, inF]);
    t.deepEqual(g.dw.shape, [out, inF]);
    t.deepEqual(g.db.shape, [out]);
    assertClose(t, g.dx.data, refGemm(dy.data, w.data, N, inF, out, false, false), tol(out), 'dx');
    assertClose(t, g.dw.data, refGemm(transpose(dy.data, N, out), x.data, out, inF, N, false, false), tol(N), 'dw');
    const db = new Float64Array(out);
    for (let i = 0; i < N; i++) for (let j = 0; j < out; j++) db[j] += dy.data[i * out + j];
    assertClose(t, g.db.data, db, tol(N), 'db');
  }
});

test('backward ops return exactly the gradients asked for', async (t) => {
  const x = randn([4, 3], 1);
  const w = randn([5, 3], 2);
  const dy = randn([4, 5], 3);
  const all = await ops.linearBackward(x, w, dy);
  const some = await ops.linearBackward(x, w, dy, { dw: false, db: false });
  t.deepEqual(Object.keys(await runOp('linear_backward', { x, w, dy }, { dx: false, db: false })), ['dw']);
  t.is(some.dw, undefined);
  t.is(some.db, undefined);
  t.deepEqual(some.dx.data, all.dx.data);
  const only = await ops.linearBackward(x, w, dy, { dx: false, dw: false });
  t.deepEqual(only.db.data, all.db.data);

  const a = randn([2, 3, 4], 4);
  const b = randn([2, 4, 5], 5);
  const dc = randn([2, 3, 5], 6);
  const both = await ops.matmulBackward(a, b, dc);
  const da = await ops.matmulBackward(a, b, dc, { db: false });
  t.is(da.db, undefined);
  t.deepEqual(da.da.data, both.da.data);
  t.deepEqual(Object.keys(await runOp('matmul_backward', { a, b, dc }, { da: false })), ['db']);
});

test('linear gradients of x, w and b pass a finite-difference check', async (t) => {
  await gradcheck(t, {
    inputs: { x: randn([5, 7], 31), w: randn([3, 7], 32), b: randn([3], 33) },
    wrt: ['x', 'w', 'b'],
    forward: async (i) => [await ops.linearForward(i.x, i.w, i.b)],
    backward: async (i, [dy]) => {
      const g = await ops.linearBackward(i.x, i.w, dy);
      return { x: g.dx, w: g.dw, b: g.db };
    },
  });
});

for (const [ta, tb] of transposes) {
  test(`matmul gradients of a and b pass a finite-difference check (transA ${ta}, transB ${tb})`, async (t) => {
    const [B, M, N, K] = [2, 5, 3, 7];
    const opts = { transA: ta, transB: tb, alpha: 0.75 };
    await gradcheck(t, {
      inputs: { a: randn(ta ? [B, K, M] : [B, M, K], 41), b: randn(tb ? [B, N, K] : [B, K, N], 42) },
      wrt: ['a', 'b'],
      forward: async (i) => [await ops.matmulForward(i.a, i.b, opts)],
      backward: async (i, [dc]) => {
        const g = await ops.matmulBackward(i.a, i.b, dc, opts);
        return { a: g.da, b: g.db };
      },
    });
  });
}

test('matmul backward matches the reference on shapes spanning tiles and K blocks', async (t) => {
  const [B, M, N, K] = [1, 195, 97, 400];
  for (const [ta, tb] of transposes) {
    const a = randn(ta ? [B, K, M] : [B, M, K], 51);
    const b = randn(tb ? [B, N, K] : [B, K, N], 52);
    const dc = randn([B, M, N], 53);
    const g = await ops.matmulBackward(a, b, dc, { transA: ta, transB: tb });
    // With A = op(a) [M, K] and B = op(b) [K, N]: ∂A = dC·Bᵀ, ∂B = Aᵀ·dC, then stored in each input's layout.
    const A = ta ? transpose(a.data, K, M) : a.data;
    const B_ = tb ? transpose(b.data, N, K) : b.data;
    const dA = Float32Array.from(refGemm(dc.data, B_, M, K, N, false, true));
    const dB = Float32Array.from(refGemm(A, dc.data, K, N, M, true, false));
    assertClose(t, g.da.data, ta ? transpose(dA, M, K) : dA, tol(N), `da (transA ${ta}, transB ${tb})`);
    assertClose(t, g.db.data, tb ? transpose(dB, K, N) : dB, tol(M), `db (transA ${ta}, transB ${tb})`);
  }
});

test('results are bit-identical across calls, thread counts and kernels', async (t) => {
  const here = await gemmCases();
  const again = await gemmCases();
  for (let i = 0; i < here.length; i++) t.true(Buffer.from(here[i].data.buffer).equals(Buffer.from(again[i].data.buffer)), here[i].name);
  const script = fileURLToPath(new URL('../helpers/gemm-cases.ts', import.meta.url));
  for (const env of [{ AMAE_NUM_THREADS: '1' }, { AMAE_NUM_THREADS: '1', AMAE_GEMM_ISA: 'avx2' }, { AMAE_GEMM_ISA: 'avx2' }]) {
    const r = spawnSync(process.execPath, ['--import=tsx', script], { encoding: 'utf8', env: { ...process.env, ...env } });
    t.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; sha256: string });
    t.deepEqual(
      lines.map((l) => `${l.name}: ${l.sha256}`),
      here.map((c) => `${c.name}: ${digest(c.data)}`),
      `outputs with ${JSON.stringify(env)}`,
    );
  }
});

test('linear and matmul ops reject bad arguments with typed errors', (t) => {
  const x = randn([4, 3], 1);
  const w = randn([5, 3], 2);
  const dy = randn([4, 5], 3);
  t.throws(() => runOp('linear_forward', { x, w: randn([5, 4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[1\] must be 3 \(in = x\.shape\[1\]\), got shape \[5,4\]/,
  });
  t.throws(() => runOp('linear_forward', { x, w, b: randn([4], 1) }), { instanceOf: RangeError, message: /inputs\.b\.shape\[0\] must be 5/ });
  t.throws(() => runOp('linear_forward', { x: randn([1, 4, 3], 1), w }), { instanceOf: RangeError, message: /inputs\.x must have 2 dimensions/ });
  t.throws(() => runOp('linear_forward', { x }), { instanceOf: TypeError, message: /inputs\.w is required/ });
  t.throws(() => runOp('linear_forward', { x: { data: new Int32Array(12), shape: [4, 3] }, w }), {
    instanceOf: TypeError,
    message: /inputs\.x must be float32/,
  });
  t.throws(() => runOp('linear_backward', { x, w, dy: randn([4, 6], 1) }), { instanceOf: RangeError, message: /inputs\.dy\.shape\[1\] must be 5/ });
  t.throws(() => runOp('linear_backward', { x, w, dy: randn([3, 5], 1) }), { instanceOf: RangeError, message: /inputs\.dy\.shape\[0\] must be 4/ });
  t.throws(() => runOp('linear_backward', { x, dy }), { instanceOf: TypeError, message: /inputs\.w is required/ });
  t.throws(() => runOp('linear_backward', { x, w, dy }, { dx: 2 }), { instanceOf: TypeError, message: /attrs\.dx must be a boolean/ });

  const a = randn([2, 3, 4], 4);
  const b = randn([2, 4, 5], 5);
  t.throws(() => runOp('matmul_forward', { a, b: randn([3, 4, 5], 1) }), { instanceOf: RangeError, message: /inputs\.b\.shape\[0\] must be 2/ });
  t.throws(() => runOp('matmul_forward', { a, b }, { trans_b: true }), {
    instanceOf: RangeError,
    message: /inputs\.b\.shape\[2\] must be 4 \(K = a\.shape\[2\] with trans_b\)/,
  });
  t.throws(() => runOp('matmul_forward', { a, b }, { trans_a: true }), { instanceOf: RangeError, message: /inputs\.b\.shape\[1\] must be 3 \(K = a\.shape\[1\]\)/ });
  t.throws(() => runOp('matmul_forward', { a: randn([3, 4], 1), b }), { instanceOf: RangeError, message: /inputs\.a must have 3 dimensions/ });
  t.throws(() => runOp('matmul_forward', { a, b }, { alpha: Infinity }), { instanceOf: RangeError, message: /attrs\.alpha must be finite/ });
  t.throws(() => runOp('matmul_forward', { a, b }, { transpose: true }), { instanceOf: TypeError, message: /unknown attribute attrs\.transpose/ });
  t.throws(() => runOp('matmul_backward', { a, b, dc: randn([2, 3, 4], 1) }), { instanceOf: RangeError, message: /inputs\.dc must have shape \[2,3,5\]/ });
  t.throws(() => runOp('matmul_backward', { a, b }), { instanceOf: TypeError, message: /inputs\.dc is required/ });
});

cppCheck('sgemm_direct (operands read in place) is bit-identical to sgemm, AVX-512 and AVX2', 'test/native/cpp/gemm_direct.cpp', [
  'native/cpu/gemm.cpp',
  'native/core/threads.cpp',
]);
