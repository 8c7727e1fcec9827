import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import type { Tensor } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

// Float64 references from the definition: y = (x − μ)/sqrt(σ² + eps)·w + b, σ² the biased
// variance; the backward contracts dy with the full Jacobian ∂y_j/∂x_i of each row.
function rowStats(x: Tensor, eps: number) {
  const [T, C] = x.shape;
  const mean = new Float64Array(T);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const row = x.data.subarray(t * C, (t + 1) * C);
    mean[t] = row.reduce((s, v) => s + v, 0) / C;
    rstd[t] = 1 / Math.sqrt(row.reduce((s, v) => s + (v - mean[t]) ** 2, 0) / C + eps);
  }
  return { mean, rstd };
}

function refForward(x: Tensor, w: Tensor, b: Tensor, eps = 1e-5) {
  const [T, C] = x.shape;
  const { mean, rstd } = rowStats(x, eps);
  const y = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) y[t * C + c] = (x.data[t * C + c] - mean[t]) * rstd[t] * w.data[c] + b.data[c];
  }
  return { y, mean, rstd };
}

function refBackward(x: Tensor, w: Tensor, dy: Tensor, eps = 1e-5) {
  const [T, C] = x.shape;
  const { mean, rstd } = rowStats(x, eps);
  const dx = new Float64Array(T * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let t = 0; t < T; t++) {
    const xhat = (c: number) => (x.data[t * C + c] - mean[t]) * rstd[t];
    for (let i = 0; i < C; i++) {
      // ∂y_j/∂x_i = w_j·rstd·(δ_ij − 1/C − x̂_i·x̂_j/C)
      let s = 0;
      for (let j = 0; j < C; j++) {
        s += dy.data[t * C + j] * w.data[j] * rstd[t] * ((i === j ? 1 : 0) - 1 / C - (xhat(i) * xhat(j)) / C);
      }
      dx[t * C + i] = s;
      dw[i] += dy.data[t * C + i] * xhat(i);
      db[i] += dy.data[t * C + i];
    }
  }
  return { dx, dw, db };
}

test('forward matches the definition (odd width, rows with a large mean)', async (t) => {
  const [T, C] = [7, 37];
  const x = randn([T, C], 1, 2);
  for (let i = 0; i < C; i++) x.data[3 * C + i] += 100; // cancellation-prone row
  const w = randn([C], 2);
  const b = randn([C], 3);
  const f = await ops.layerNormForward(x, w, b);
  const r = refForward(x, w, b);
  t.deepEqual([f.y.shape, f.mean.shape, f.rstd.shape], [[T, C], [T], [T]]);
  assertClose(t, f.y.data, r.y, { rtol: 1e-5, atol: 1e-5 }, 'y');
  assertClose(t, f.mean.data, r.mean, { rtol: 1e-6, atol: 1e-6 }, 'mean');
  assertClose(t, f.rstd.data, r.rstd, { rtol: 1e-5, atol: 0 }, 'rstd');
});

test('forward honours attrs.eps', async (t) => {
  const x = randn([3, 10], 4, 0.1);
  const w = randn([10], 5);
  const b = randn([10], 6);
  const f = await ops.layerNormForward(x, w, b, 0.25);
  assertClose(t, f.y.data, refForward(x, w, b, 0.25).y, { rtol: 1e-5, atol: 1e-6 });
});

test('backward passes a finite-difference check for x, w and b', async (t) => {
  await gradcheck(t, {
    inputs: { x: randn([5, 13], 7), w: randn([13], 8), b: randn([13], 9) },
    wrt: ['x', 'w', 'b'],
    forward: async (i) => [(await ops.layerNormForward(i.x, i.w, i.b)).y],
    backward: async (i, [dy]) => {
      const f = await ops.layerNormForward(i.x, i.w, i.b);
      const g = await ops.layerNormBackward(i.x, i.w, f.mean, f.rstd, dy);
      return { x: g.dx, w: g.dw, b: g.db };
    },
  });
});

test('backward matches the Jacobian over several row chunks', async (t) => {
  // 101 rows: several fixed-size dw/db chunks and a partial last one.
  const [T, C] = [101, 37];
  const x = randn([T, C], 10, 3);
  const w = randn([C], 11);
  const dy = randn([T, C], 12);
  const f = await ops.layerNormForward(x, w, randn([C], 13));
  const g = await ops.layerNormBackward(x, w, f.mean, f.rstd, dy);
  const r = refBackward(x, w, dy);
  assertClose(t, g.dx.data, r.dx, { rtol: 1e-4, atol: 1e-5 }, 'dx');
  assertClose(t, g.dw.data, r.dw, { rtol: 1e-4, atol: 1e-4 }, 'dw');
  assertClose(t, g.db.data, r.db, { rtol: 1e-5, atol: 1e-5 }, 'db');
});

test('layernorm ops reject bad arguments with typed errors', (t) => {
  const x = randn([4, 6], 14);
  const w = randn([6], 15);
  const b = randn([6], 16);
  const v4 = randn([4], 17);
  t.throws(() => runOp('layernorm_forward', { x: randn([24], 1), w, b }), {
    instanceOf: RangeError,
    message: /inputs\.x must have 2 dimensions/,
  });
  t.throws(() => runOp('layernorm_forward', { x, w: randn([5], 1), b }), {
    instanceOf: RangeError,
    message: /inputs\.w\.shape\[0\] must be 6/,
  });
  t.throws(() => runOp('layernorm_forward', { x, w }), { instanceOf: TypeError, message: /inputs\.b is required/ });
  t.throws(() => runOp('layernorm_forward', { x: randn([4, 0], 1), w: randn([0], 1), b: randn([0], 1) }), {
    instanceOf: RangeError,
    message: /at least one column/,
  });
  t.throws(() => runOp('layernorm_forward', { x, w, b }, { eps: 0 }), { instanceOf: RangeError, message: /attrs\.eps must be > 0/ });
  t.throws(() => runOp('layernorm_backward', { x, w, mean: v4, rstd: randn([3], 1), dy: x }), {
    instanceOf: RangeError,
    message: /inputs\.rstd\.shape\[0\] must be 4/,
  });
  t.throws(() => runOp('layernorm_backward', { x, w, mean: v4, rstd: v4, dy: randn([6, 4], 1) }), {
    instanceOf: RangeError,
    message: /inputs\.dy must have shape \[4,6\]/,
  });
  t.throws(() => runOp('layernorm_backward', { x, w, mean: { data: new Int32Array(4), shape: [4] }, rstd: v4, dy: x }), {
    instanceOf: TypeError,
    message: /inputs\.mean must be float32/,
  });
});
