import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pythonHas, systemPython } from '../../bench/util.js';
import { ops, type Tensor } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { assertClose } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
const spec: Hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 }; // AMAE.md §4
const torchDefaults: Hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** The algorithm box of the PyTorch AdamW docs, in float64, one step at a time (t counts from 1). */
function adamwRef(theta: number[], grads: Float32Array[], h: Hyper) {
  const p = [...theta];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] -= h.lr * h.weightDecay * p[i];
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
      const mHat = m[i] / (1 - h.beta1 ** t);
      const vHat = v[i] / (1 - h.beta2 ** t);
      p[i] -= (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
  });
  return { p, m, v };
}

function state(param: Tensor) {
  const z = () => ({ data: new Float32Array(param.data.length), shape: [...param.shape] });
  return { param: { data: param.data.slice(), shape: [...param.shape] }, grad: z(), m: z(), v: z() };
}

async function runAdamw(param: Tensor, grads: Float32Array[], h: Hyper) {
  const s = state(param);
  for (let k = 0; k < grads.length; k++) {
    s.grad.data.set(grads[k]);
    await ops.adamwStep(s, h, k + 1);
  }
  return s;
}

const gradSeq = (shape: number[], steps: number, seed: number) =>
  Array.from({ length: steps }, (_, k) => randn(shape, seed + 1000 * k).data);

test('AdamW: ten steps match the PyTorch docs algorithm element-wise (param, m, v updated in place)', async (t) => {
  for (const [shape, h, seed] of [
    [[3, 37], spec, 1],
    [[40003], torchDefaults, 2],
  ] as [number[], Hyper, number][]) {
    const param = randn(shape, seed);
    const grads = gradSeq(shape, 10, seed + 1);
    const s = await runAdamw(param, grads, h);
    const ref = adamwRef(Array.from(param.data), grads, h);
    assertClose(t, s.param.data, ref.p, { rtol: 1e-5, atol: 1e-6 }, `param ${shape}`);
    assertClose(t, s.m.data, ref.m, { rtol: 1e-5, atol: 1e-7 }, `m ${shape}`);
    assertClose(t, s.v.data, ref.v, { rtol: 1e-5, atol: 1e-8 }, `v ${shape}`);
  }
});

test('AdamW: weight decay is decoupled, and adamwStepAll leaves the no-decay group undecayed', async (t) => {
  const a = randn([17], 3);
  const b = randn([5, 3], 4);
  const grads = [randn([17], 5).data, randn([5, 3], 6).data];
  const listed = [
    { ...state(a), decay: true },
    { ...state(b), decay: false },
  ];
  listed.forEach((s, i) => s.grad.data.set(grads[i]));
  await ops.adamwStepAll(listed, spec, 1);
  const one = await runAdamw(a, [grads[0]], spec);
  const two = await runAdamw(b, [grads[1]], { ...spec, weightDecay: 0 });
  t.deepEqual(listed[0].param.data, one.param.data);
  t.deepEqual(listed[1].param.data, two.param.data);
  // With a zero gradient only the decay moves a parameter: p·(1 − lr·wd).
  const p = randn([9], 7);
  const s = state(p);
  await ops.adamwStep(s, spec, 3);
  assertClose(t, s.param.data, Array.from(p.data, (x) => x * (1 - spec.lr * spec.weightDecay)), { rtol: 1e-6, atol: 0 });
});

// torch's run happens once, when the file loads, so a missing torch shows as a skipped test with its reason.
const torchShape = [4, 29];
const torchParam = randn(torchShape, 8);
const torchGrads = gradSeq(torchShape, 5, 9);
const torchRun = (() => {
  if (!pythonHas('torch')) return { skip: `${systemPython} cannot import torch` };
  const script = fileURLToPath(new URL('../helpers/adamw_torch.py', import.meta.url));
  const job = {
    param: Array.from(torchParam.data),
    grads: torchGrads.map((g) => Array.from(g)),
    lr: spec.lr,
    beta1: spec.beta1,
    beta2: spec.beta2,
    eps: spec.eps,
    weight_decay: spec.weightDecay,
  };
  // torch is there, so a failing script is a failure, not a reason to skip.
  const r = spawnSync(systemPython, [script], { input: JSON.stringify(job), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { skip?: string; torch: string; param: number[]; m: number[]; v: number[] };
})();

if (torchRun.skip) {
  test.skip(`AdamW matches torch.optim.AdamW (skipped: ${torchRun.skip})`, () => {});
} else {
  test('AdamW matches torch.optim.AdamW over five steps', async (t) => {
    const s = await runAdamw(torchParam, torchGrads, spec);
    const want = torchRun as { torch: string; param: number[]; m: number[]; v: number[] };
    t.log(`torch ${want.torch}`);
    // Rounding-level agreement: the native loop may fuse a multiply-add that torch rounds twice,
    // so allow a couple of float32 ulps at the moments' scale (|m|, |v| ≲ 1 here).
    assertClose(t, s.param.data, want.param, { rtol: 1e-6, atol: 1e-7 }, 'param');
    assertClose(t, s.m.data, want.m, { rtol: 1e-6, atol: 2e-7 }, 'm');
    assertClose(t, s.v.data, want.v, { rtol: 1e-6, atol: 2e-7 }, 'v');
  });
}

test('gradNormSq and scaleInplace follow their definitions', async (t) => {
  const x = randn([40003], 10);
  const ref = Array.from(x.data).reduce((a, b) => a + b * b, 0);
  assertClose(t, [await ops.gradNormSq(x)], [ref], { rtol: 1e-7, atol: 0 });
  t.is(await ops.gradNormSq({ data: new Float32Array(0), shape: [0] }), 0);
  const y = { data: x.data.slice(), shape: x.shape };
  await ops.scaleInplace(y, -0.25);
  t.deepEqual(y.data, x.data.map((v) => v * -0.25));
});

test('clipGradNorm scales all gradients by maxNorm/(norm + 1e-6) when that is < 1 and returns the norm', async (t) => {
  const grads = [randn([3, 37], 11), randn([5], 12, 4), randn([20011], 13, 0.1)];
  const norm = Math.sqrt(grads.reduce((a, g) => a + g.data.reduce((s, v) => s + v * v, 0), 0));
  const copy = grads.map((g) => ({ data: g.data.slice(), shape: g.shape }));
  const got = await ops.clipGradNorm(copy, norm / 3);
  assertClose(t, [got], [norm], { rtol: 1e-6, atol: 0 }, 'norm');
  const coef = norm / 3 / (norm + 1e-6);
  copy.forEach((g, i) => assertClose(t, g.data, Array.from(grads[i].data, (v) => v * coef), { rtol: 1e-6, atol: 1e-9 }, `grad ${i}`));
  assertClose(t, [Math.sqrt(copy.reduce((a, g) => a + g.data.reduce((s, v) => s + v * v, 0), 0))], [norm / 3], { rtol: 1e-5, atol: 0 });

  // Below the threshold nothing changes, bit for bit.
  const same = grads.map((g) => ({ data: g.data.slice(), shape: g.shape }));
  assertClose(t, [await ops.clipGradNorm(same, norm * 2)], [norm], { rtol: 1e-6, atol: 0 });
  same.forEach((g, i) => t.deepEqual(g.data, grads[i].data));
});

test('clipGradNorm leaves gradients alone when the norm is not finite, and rejects a bad maxNorm', async (t) => {
  const g = randn([10], 14);
  const bad = { data: g.data.slice(), shape: g.shape };
  bad.data[3] = Infinity;
  const other = randn([4], 15);
  const before = other.data.slice();
  t.is(await ops.clipGradNorm([bad, other], 1), Infinity);
  t.deepEqual(other.data, before);
  bad.data[3] = NaN;
  t.true(Number.isNaN(await ops.clipGradNorm([bad, other], 1)));
  t.is(await ops.clipGradNorm([], 1), 0);
  await t.throwsAsync(() => ops.clipGradNorm([g], -1), { instanceOf: RangeError, message: /maxNorm must be a finite number ≥ 0/ });
  await t.throwsAsync(() => ops.clipGradNorm([g], NaN), { instanceOf: RangeError });
});

test('optimiser ops reject bad arguments with typed errors', (t) => {
  const s = state(randn([6], 16));
  const attrs = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, step: 1 };
  const bad = (inputs: Record<string, Tensor>, a: Record<string, number>, error: { instanceOf: typeof RangeError; message: RegExp }) =>
    t.throws(() => runOp('adamw_step', inputs, a), error);
  bad(s, { ...attrs, step: 0 }, { instanceOf: RangeError, message: /attrs\.step must be ≥ 1/ });
  bad(s, { ...attrs, step: 1.5 }, { instanceOf: TypeError, message: /attrs\.step must be an integer/ });
  bad(s, { ...attrs, beta1: 1 }, { instanceOf: RangeError, message: /attrs\.beta1 must be in \[0, 1\)/ });
  bad(s, { ...attrs, beta2: -0.1 }, { instanceOf: RangeError, message: /attrs\.beta2 must be in \[0, 1\)/ });
  bad(s, { ...attrs, eps: 0 }, { instanceOf: RangeError, message: /attrs\.eps must be > 0/ });
  bad(s, { ...attrs, lr: -1 }, { instanceOf: RangeError, message: /attrs\.lr must be ≥ 0/ });
  bad(s, { ...attrs, weight_decay: -0.01 }, { instanceOf: RangeError, message: /attrs\.weight_decay must be ≥ 0/ });
  bad(s, { ...attrs, lr: Infinity }, { instanceOf: RangeError, message: /attrs\.lr must be finite/ });
  const { eps: _eps, ...noEps } = attrs;
  bad(s, noEps, { instanceOf: TypeError, message: /attrs\.eps is required/ });
  bad({ ...s, grad: randn([7], 1) }, attrs, { instanceOf: RangeError, message: /inputs\.grad must have shape \[6\]/ });
  bad({ ...s, v: s.m }, attrs, { instanceOf: RangeError, message: /inputs\.m and inputs\.v must not share memory/ });
  const buf = new Float32Array(12);
  bad({ ...s, param: { data: buf.subarray(0, 6), shape: [6] }, m: { data: buf.subarray(5, 11), shape: [6] } }, attrs, {
    instanceOf: RangeError,
    message: /inputs\.param and inputs\.m must not share memory/,
  });
  const { v: _v, ...noV } = s;
  bad(noV, attrs, { instanceOf: TypeError, message: /inputs\.v is required/ });
  t.throws(() => runOp('scale_inplace', { x: s.param }, { s: NaN }), { instanceOf: RangeError, message: /attrs\.s must be finite/ });
  t.throws(() => runOp('grad_norm_sq', { x: { data: new Int32Array(2), shape: [2] } }), { instanceOf: TypeError, message: /inputs\.x must be float32/ });
});
