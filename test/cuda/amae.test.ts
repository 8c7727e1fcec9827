// The whole AMAE model on the GPU against the CPU (math 'f32'): the same seed gives the same
// initial weights; the first batch's loss and every parameter's gradient agree; then ten
// pre-training steps on identical batches (variable contrast counts, gradient clipping) give the
// same loss and gradient norm at every step, to 1e-3 relative.
import test from 'ava';
import { AMAE_PRESETS, type AmaeConfig, createAmae } from '../../lib/models/amae.js';
import type { Tensor } from '../../lib/tensor.js';
import { Random } from '../../lib/util/random.js';
import { blobSubject } from '../models/fixtures.js';
import { bitEqual, compare } from '../helpers/parity.js';
import { cudaTest, info, report, setMath } from './cuda.js';

const SEED = 12;
const onGpu = { seed: SEED, device: 'cuda' } as const;
const STEP = { lr: 1e-3, maxGradNorm: 0.5 };

const batches = (model: ReturnType<typeof createAmae>, n: number) => {
  const random = new Random(4);
  // 3, 1 and 7 contrasts: packed sequences of different lengths in one batch.
  return Array.from({ length: n }, (_, i) =>
    model.pack([blobSubject(32, [0, 1, 2], i), blobSubject(32, [5], 7 + i), blobSubject(32, [1, 2, 3, 4, 5, 6, 7], 20 + i)], { random }),
  );
};

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

if (info.available) test.before(() => setMath('f32'));

// AVA's assertions throw: failures are collected and asserted at the end, after the report.
cudaTest('tiny AMAE: same initial weights, loss and gradients on CUDA as on the CPU', async (t) => {
  const failures: string[] = [];
  const cpu = createAmae('tiny', { seed: SEED });
  const gpu = createAmae('tiny', onGpu);
  const [wc, wg] = [await cpu.weights(), await gpu.weights()];
  for (const p of cpu.parameters()) if (!bitEqual(wg[p.name], wc[p.name])) failures.push(`initial ${p.name} differs`);

  const [batch] = batches(cpu, 1);
  const [fc, fg] = [await cpu.forward(batch), await gpu.forward(batch)];
  if (!(rel(fg.loss, fc.loss) <= 1e-4)) failures.push(`forward loss ${fg.loss} vs CPU ${fc.loss}`);
  const pred = compare(fg.pred, fc.pred, { rtol: 1e-3, floor: 0.1 }, 'pred');
  t.log(pred.message);
  if (!pred.ok) failures.push(pred.message);

  const [gc, gg] = [await cpu.lossAndGrads(batch), await gpu.lossAndGrads(batch)];
  if (!(rel(gg.loss, gc.loss) <= 1e-4)) failures.push(`loss ${gg.loss} vs CPU ${gc.loss}`);
  let worst = 0;
  for (const p of cpu.parameters().filter((q) => q.trainable)) {
    const as = (d: Float32Array): Tensor => ({ data: d, shape: p.shape });
    const r = compare(as(gg.grads[p.name]), as(gc.grads[p.name]), { rtol: 1e-3, floor: 0.1 }, `d${p.name}`);
    worst = Math.max(worst, r.normRel);
    if (!r.ok) failures.push(r.message);
  }
  t.log(`worst gradient ‖a−b‖/‖b‖ over ${cpu.parameters().length} parameters: ${worst.toExponential(2)}`);
  report({ kind: 'amae-grads', ok: failures.length === 0, worst });
  if (failures.length) t.fail(failures.join('\n'));
  else t.pass();
});

cudaTest('tiny AMAE: ten pre-training steps on CUDA follow the CPU (loss and grad norm to 1e-3)', async (t) => {
  const failures: string[] = [];
  const cpu = createAmae('tiny', { seed: SEED });
  const gpu = createAmae('tiny', onGpu);
  let worst = 0;
  for (const [i, batch] of batches(cpu, 10).entries()) {
    const c = await cpu.trainStep(batch, STEP);
    const g = await gpu.trainStep(batch, STEP);
    const e = Math.max(rel(g.loss, c.loss), rel(g.gradNorm, c.gradNorm));
    worst = Math.max(worst, Number.isNaN(e) ? Infinity : e);
    t.log(`step ${i + 1}: loss ${g.loss.toFixed(6)} (CPU ${c.loss.toFixed(6)}), grad norm ${g.gradNorm.toFixed(5)} (CPU ${c.gradNorm.toFixed(5)})`);
    if (g.updated !== c.updated) failures.push(`step ${i + 1}: updated ${g.updated}, CPU ${c.updated}`);
    if (!(rel(g.loss, c.loss) <= 1e-3)) failures.push(`step ${i + 1}: loss ${g.loss} vs CPU ${c.loss}`);
    if (!(rel(g.gradNorm, c.gradNorm) <= 1e-3)) failures.push(`step ${i + 1}: grad norm ${g.gradNorm} vs CPU ${c.gradNorm}`);
  }
  // The weights after ten AdamW steps are logged, not bounded: Adam's m/√v turns rounding-level
  // gradient differences in tiny gradients into differences of lr.
  const [wc, wg] = [await cpu.weights(), await gpu.weights()];
  let wworst = 0;
  for (const p of cpu.parameters()) wworst = Math.max(wworst, compare(wg[p.name], wc[p.name], { rtol: 1, floor: 0 }).normRel);
  t.log(`after 10 steps: worst per-step relative error ${worst.toExponential(2)}, worst weight ‖a−b‖/‖b‖ ${wworst.toExponential(2)}`);
  report({ kind: 'amae-steps', ok: failures.length === 0, worst, weights: wworst });
  if (failures.length) t.fail(failures.join('\n'));
  else t.pass();
});

// The configuration switches that change the model's graph (normalised targets; learned codes
// and position table), a prediction, and weights set onto the device from the CPU.
const variants: [string, AmaeConfig][] = [
  ['normPix', { ...AMAE_PRESETS.tiny, normPix: true }],
  ['learned code and position', { ...AMAE_PRESETS.tiny, code: 'learned', posEmbed: 'learnable' }],
];
for (const [what, config] of variants) {
  cudaTest(`tiny AMAE (${what}): loss, gradients and prediction as on the CPU; CPU weights set onto the GPU`, async (t) => {
    const failures: string[] = [];
    const cpu = createAmae(config, { seed: SEED });
    const gpu = createAmae(config, onGpu);
    const [batch] = batches(cpu, 1);
    const [gc, gg] = [await cpu.lossAndGrads(batch), await gpu.lossAndGrads(batch)];
    if (!(rel(gg.loss, gc.loss) <= 1e-4)) failures.push(`loss ${gg.loss} vs CPU ${gc.loss}`);
    for (const p of cpu.parameters().filter((q) => q.trainable)) {
      const as = (d: Float32Array): Tensor => ({ data: d, shape: p.shape });
      const r = compare(as(gg.grads[p.name]), as(gc.grads[p.name]), { rtol: 1e-3, floor: 0.1 }, `d${p.name}`);
      if (!r.ok) failures.push(r.message);
    }
    const [fc, fg] = [await cpu.forward(batch), await gpu.forward(batch)];
    const pred = compare(fg.pred, fc.pred, { rtol: 1e-3, floor: 0.1 }, 'pred');
    if (!pred.ok) failures.push(pred.message);

    await cpu.trainStep(batch, STEP);
    const trained = await cpu.weights();
    await gpu.setWeights(trained);
    const back = await gpu.weights();
    for (const p of cpu.parameters()) if (!bitEqual(back[p.name], trained[p.name])) failures.push(`setWeights: ${p.name} differs`);
    const [ac, ag] = [await cpu.lossAndGrads(batch), await gpu.lossAndGrads(batch)];
    if (!(rel(ag.loss, ac.loss) <= 1e-4)) failures.push(`after setWeights: loss ${ag.loss} vs CPU ${ac.loss}`);
    if (failures.length) t.fail(failures.join('\n'));
    else t.pass();
  });
}
