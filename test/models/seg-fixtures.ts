// Shared by the segmentation model tests: MONAI's soft Dice recomputed in float64, and small
// labelled batches of blob subjects.
import type { AnySegmentationModel } from '../../lib/models/segmentation.js';
import type { NativeBatch } from '../../lib/native.js';
import { blobSubject } from './fixtures.js';

// MONAI's DiceLoss(sigmoid=True) recomputed in float64 from the forward's float32 logits: rounding
// in the logits averages out over the 32³ voxels, so differences of this loss resolve far smaller
// changes than the float32 loss the model reports would.
export async function referenceDice(model: AnySegmentationModel, batch: NativeBatch): Promise<number> {
  const { logits } = await model.forward(batch);
  const [S, C] = logits.shape;
  const V = logits.data.length / (S * C);
  const g = batch.labels!.data;
  let total = 0;
  for (let r = 0; r < S * C; r++) {
    let inter = 0;
    let ps = 0;
    let gs = 0;
    for (let i = r * V; i < (r + 1) * V; i++) {
      const p = 1 / (1 + Math.exp(-logits.data[i]));
      inter += p * g[i];
      ps += p;
      gs += g[i];
    }
    total += 1 - (2 * inter + 1e-5) / (ps + gs + 1e-5);
  }
  return total / (S * C);
}

/** Two subjects: contrasts `a` with a blob label, and `b` whose two contrasts share one volume. */
export function gradBatch(model: AnySegmentationModel, a: number[], b: [number, number]): NativeBatch {
  const s1 = blobSubject(32, a, 3);
  const s2 = blobSubject(32, [b[0]], 4);
  const label = (v: Float32Array) => v.map((x) => (Math.abs(x) > 0.35 ? 1 : 0));
  return model.pack([
    { contrasts: s1.contrasts, label: label(s1.contrasts[0].data) },
    { contrasts: [s2.contrasts[0], { id: b[1], data: s2.contrasts[0].data }], label: label(s2.contrasts[0].data) },
  ]);
}

