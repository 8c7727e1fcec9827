// Each whole segmentation model's gradient against central finite differences of its Dice loss,
// for a sample of entries in every trainable tensor (weights perturbed through setWeights, the loss
// re-evaluated). The models are the tiny preset made narrower (E = 12, 2 blocks, F = 4; U-Net
// channels 2..6) so that the check runs in seconds; every block and op is still on the path. The
// batch mixes a subject with a missing slot / one contrast and a subject whose two contrasts are
// identical volumes, so that Adaptive UNETR's max over contrasts meets exact ties in encoder1.
import test, { type ExecutionContext } from 'ava';
import type { NativeBatch } from '../../lib/native.js';
import { AdaptiveUnetr, type AnySegmentationModel, Unet, Unetr } from '../../lib/models/segmentation.js';
import { Random } from '../../lib/util/random.js';
import { gradBatch, referenceDice } from './seg-fixtures.js';

const size = [32, 32, 32] as const;
const vit = { size, featureSize: 4, embedDim: 12, depth: 2, heads: 2 };

// Central differences with step 1e-4: LeakyReLU kinks and InstanceNorm over 2³–4³ maps curve the
// loss enough that 3e-3 is too coarse (the estimates were seen to converge to the analytic values
// as the step shrinks, 1e-2 → 1e-4). Per tensor: the largest-gradient entry and two random ones,
// and the derivative along the gradient's own direction (a step of length EPS over the whole
// tensor: it moves the loss by EPS·‖g‖, far above the forward's float32 noise, so a wrong scale
// or sign anywhere in the tensor shows). An estimate passes when
// |analytic − numeric| ≤ ATOL + RTOL·max(|analytic|, |numeric|); ATOL is the noise floor of a
// difference of float32 forwards (about 2e-5 in derivative units at this step, as measured).
const RTOL = 5e-2;
const ATOL = 2.5e-5;
const SAMPLES = 2;
const EPS = 1e-4;

async function check(t: ExecutionContext, model: AnySegmentationModel, batch: NativeBatch): Promise<void> {
  const { loss, grads } = await model.lossAndGrads(batch);
  t.true(Math.abs((await referenceDice(model, batch)) - loss) <= 1e-5, "the model's loss is MONAI's soft Dice");
  const weights = await model.weights();
  // The loss with weights[name] moved by ±EPS·u (u a direction over the tensor), and the step taken.
  const moved = async (name: string, u: Float32Array, sign: number): Promise<[number, Float32Array]> => {
    const w = weights[name];
    const data = w.data.map((x, i) => Math.fround(x + sign * EPS * u[i]));
    await model.setWeights({ [name]: { data, shape: w.shape } });
    const l = await referenceDice(model, batch);
    await model.setWeights({ [name]: w });
    return [l, data];
  };
  const pick = new Random(5);
  const trainable = model.parameters().filter((p) => p.trainable);
  t.is(Object.keys(grads).length, trainable.length, 'a gradient for every trainable tensor, and only those');
  const failures: string[] = [];
  let worst = 0;
  for (const p of trainable) {
    const g = grads[p.name];
    let top = 0;
    g.forEach((v, i) => (Math.abs(v) > Math.abs(g[top]) ? (top = i) : 0));
    if (g[top] === 0) failures.push(`${p.name}: every gradient entry is 0`);
    const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
    const entry = (i: number) => Float32Array.from(g, (_, j) => (j === i ? 1 : 0));
    const directions = [
      ...[top, ...Array.from({ length: SAMPLES }, () => pick.int(g.length))].map((i) => ({ label: `[${i}]`, u: entry(i) })),
      { label: 'along the gradient', u: g.map((x) => x / norm) },
    ];
    for (const { label, u } of directions) {
      const [hi, wHi] = await moved(p.name, u, 1);
      const [lo, wLo] = await moved(p.name, u, -1);
      // The change the gradient predicts for the rounded step actually taken, against the change
      // seen, both per 2·EPS (derivative units: the float32 noise of the loss is the same for both).
      let predicted = 0;
      u.forEach((_, i) => (predicted += g[i] * (wHi[i] - wLo[i])));
      const analytic = predicted / (2 * EPS);
      const numeric = (hi - lo) / (2 * EPS);
      const err = Math.abs(analytic - numeric);
      const bound = ATOL + RTOL * Math.max(Math.abs(analytic), Math.abs(numeric));
      worst = Math.max(worst, err / bound);
      if (!(err <= bound)) failures.push(`${p.name} ${label}: analytic ${analytic}, numeric ${numeric}`);
    }
  }
  t.log(`${model.kind}: ${trainable.length} tensors, ${SAMPLES + 1} entries and the gradient's direction each; worst error / bound = ${worst.toFixed(3)}`);
  t.deepEqual(failures, []);
}

test('finite differences: UNETR, a subject missing its T2 slot', async (t) => {
  const model = new Unetr(vit, { seed: 3 });
  await check(t, model, gradBatch(model, [0, 1], [1, 2]));
});

test('finite differences: Adaptive UNETR, 3 + 2 contrasts, ties in the max over contrasts', async (t) => {
  const model = new AdaptiveUnetr(vit, { seed: 3 });
  await check(t, model, gradBatch(model, [0, 1, 2], [1, 6]));
});

test('finite differences: Adaptive UNETR with learned codes and learnable positions', async (t) => {
  const model = new AdaptiveUnetr({ ...vit, code: 'learned', posEmbed: 'learnable' }, { seed: 4 });
  await check(t, model, gradBatch(model, [1], [0, 2]));
});

test('finite differences: U-Net, a subject missing its ADC slot', async (t) => {
  const model = new Unet({ size, channels: [2, 3, 4, 5, 6] }, { seed: 3 });
  await check(t, model, gradBatch(model, [0, 1, 2], [1, 2]));
});
