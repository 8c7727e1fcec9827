// The whole AMAE model's gradient against central finite differences of its loss, for a sample
// of entries in every trainable tensor: weights are perturbed through setWeights and the loss
// re-evaluated. Two configurations cover every option: one-hot codes with the fixed sin-cos
// table and plain targets; learned codes with a learnable position table and normPix targets.
// The model is the tiny preset made narrower (E = Ed = 12, 2 + 1 blocks) so that the check runs
// in seconds; every op and every parameter kind is still on the path.
import test from 'ava';
import { type AmaeConfig, Amae } from '../../lib/models/amae.js';
import type { AmaeBatch } from '../../lib/models/batch.js';
import { patchifyForward } from '../../lib/ops/patch_embed.js';
import type { Tensor } from '../../lib/tensor.js';
import { Random } from '../../lib/util/random.js';
import { blobSubject } from './fixtures.js';

const base: AmaeConfig = { size: [32, 32, 32], patch: 16, embedDim: 12, depth: 2, heads: 2, decoderDim: 12, decoderDepth: 1, decoderHeads: 2 };

// The loss is recomputed here in float64 from the forward's float32 predictions (spec §2.6: the
// mean over the masked patches' voxels of (pred − target)², targets per-patch normalised with
// the unbiased variance under normPix). Rounding in the predictions averages out over the
// thousands of voxels, so differences of this loss resolve far smaller changes than the
// float32 loss the model reports would.
async function referenceLoss(model: Amae, batch: AmaeBatch, rows: Float32Array): Promise<number> {
  const { pred } = await model.forward(batch);
  const [Nc, P, V] = pred.shape;
  let sum = 0;
  let masked = 0;
  for (let n = 0; n < Nc; n++) {
    const kept = new Set(batch.keep.subarray(batch.keepOffsets[n], batch.keepOffsets[n + 1]));
    for (let q = 0; q < P; q++) {
      if (kept.has(q)) continue;
      masked++;
      const at = (n * P + q) * V;
      let mean = 0;
      let inv = 1;
      if (model.config.normPix) {
        for (let j = 0; j < V; j++) mean += rows[at + j];
        mean /= V;
        let ss = 0;
        for (let j = 0; j < V; j++) ss += (rows[at + j] - mean) ** 2;
        inv = 1 / Math.sqrt(ss / (V - 1) + 1e-6);
      }
      for (let j = 0; j < V; j++) sum += (pred.data[at + j] - (rows[at + j] - mean) * inv) ** 2;
    }
  }
  return sum / (masked * V);
}

// Central differences with step 3e-3 (larger, up to 1, for a tensor whose largest gradient is
// below 1e-6, so that the loss still moves by 1e-8 or more: the learned code table, whose
// gradient passes through the projector's N(0, 0.02) weights). An estimate passes when
// |analytic − numeric| ≤ ATOL + RTOL·max(|analytic|, |numeric|).
const RTOL = 1e-2;
const ATOL = 1e-7;
const SAMPLES = 3; // random entries per tensor, plus the one with the largest gradient
const stepFor = (gmax: number) => Math.min(1, Math.max(3e-3, 1e-8 / gmax));

async function check(t: import('ava').ExecutionContext, config: AmaeConfig): Promise<void> {
  const model = new Amae(config, { seed: 11 });
  // Subjects with 1 and 2 contrasts; explicit keep lists of different lengths per contrast.
  const batch = model.pack([blobSubject(32, [4], 1), blobSubject(32, [0, 7], 2)], {
    keep: [[[1, 6]], [[0, 3, 5], [2]]],
  });
  const rows = (await patchifyForward({ data: batch.volumes.data, shape: [3, 1, 32, 32, 32] }, 16)).data;
  const { loss, grads } = await model.lossAndGrads(batch);
  t.true(Math.abs((await referenceLoss(model, batch, rows)) - loss) <= 1e-6 * loss, 'the model\'s loss is spec §2.6\'s');
  const weights = await model.weights();
  const lossAt = async (name: string, i: number, value: number): Promise<number> => {
    const w = weights[name];
    const data = new Float32Array(w.data);
    data[i] = value;
    await model.setWeights({ [name]: { data, shape: w.shape } });
    const l = await referenceLoss(model, batch, rows);
    await model.setWeights({ [name]: w });
    return l;
  };
  const pick = new Random(5);
  const trainable = model.parameters().filter((p) => p.trainable);
  t.is(Object.keys(grads).length, trainable.length, 'a gradient for every trainable tensor, and only those');
  const failures: string[] = [];
  let worst = 0;
  for (const p of trainable) {
    const g = grads[p.name];
    const w: Tensor = weights[p.name];
    let top = 0;
    g.forEach((v, i) => (Math.abs(v) > Math.abs(g[top]) ? (top = i) : 0));
    const entries = [top, ...Array.from({ length: SAMPLES }, () => pick.int(g.length))];
    const eps = stepFor(Math.abs(g[top]));
    for (const i of entries) {
      const x = w.data[i];
      const hi = Math.fround(x + eps);
      const lo = Math.fround(x - eps);
      const numeric = ((await lossAt(p.name, i, hi)) - (await lossAt(p.name, i, lo))) / (hi - lo);
      const err = Math.abs(g[i] - numeric);
      const bound = ATOL + RTOL * Math.max(Math.abs(g[i]), Math.abs(numeric));
      worst = Math.max(worst, err / bound);
      if (!(err <= bound)) failures.push(`${p.name}[${i}]: analytic ${g[i]}, numeric ${numeric}`);
    }
  }
  t.log(`${trainable.length} tensors, ${SAMPLES + 1} entries each; worst error / bound = ${worst.toFixed(3)}`);
  t.deepEqual(failures, []);
}

test('finite differences: one-hot codes, fixed sin-cos positions, plain targets', async (t) => {
  await check(t, base);
});

test('finite differences: learned codes, learnable positions, normPix targets', async (t) => {
  await check(t, { ...base, code: 'learned', posEmbed: 'learnable', normPix: true });
});
