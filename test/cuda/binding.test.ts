// The op binding's device path on the GPU (the ops' numbers are checked by the parity tests):
// outputs passed for reuse hold the result, not the result added to their old contents, and
// inputs an op updates in place (adamw_step's param, m, v) come back updated.
import { runOp } from '../../lib/native.js';
import type { Tensor } from '../../lib/tensor.js';
import { randn } from '../helpers/random.js';
import { cudaTest, setMath } from './cuda.js';

const close = (t: { true: (v: boolean, m?: string) => void }, a: Float32Array, b: Float32Array, tol: number, what: string) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + 1e-3));
  t.true(a.length === b.length && worst <= tol, `${what}: worst relative difference ${worst}`);
};

cudaTest('the op binding on cuda: a reused output is overwritten, not added to; in-place inputs come back updated', async (t) => {
  setMath('f32');
  const x = randn([33, 17], 5);
  const w = randn([9, 17], 6);
  const b = randn([9], 7);
  const cpu = await runOp<{ y: Tensor }>('linear_forward', { x, w, b });
  // A reused output holds the result, not the result added to its old contents.
  const reused = { data: new Float32Array(cpu.y.data.length).fill(42), shape: cpu.y.shape };
  const again = await runOp<{ y: Tensor }>('linear_forward', { x, w, b }, {}, { y: reused }, { device: 'cuda' });
  t.is(again.y, reused);
  close(t, reused.data, cpu.y.data, 1e-4, 'reused output');
  // adamw_step updates param, m and v in place.
  const state = () => ({ param: randn([100], 8), grad: randn([100], 9), m: randn([100], 10), v: { data: randn([100], 11).data.map(Math.abs), shape: [100] } });
  const a = state();
  const g = state();
  const attrs = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, step: 3 };
  await runOp('adamw_step', a, attrs);
  await runOp('adamw_step', g, attrs, undefined, { device: 'cuda' });
  for (const k of ['param', 'm', 'v'] as const) close(t, g[k].data, a[k].data, 1e-5, `adamw_step ${k}`);
  t.deepEqual(g.grad.data, a.grad.data, 'grad is read only');
});
