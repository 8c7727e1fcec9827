// Synthetic subjects for the model tests: smooth blobs, every contrast a different intensity
// mapping of the same anatomy (as MRI contrasts are), so that masked patches are predictable
// from visible ones and from other contrasts.
import type { SubjectVolumes } from '../../lib/models/batch.js';
import { Random } from '../../lib/util/random.js';

/** A subject of `ids.length` contrasts at size n³: 2–3 Gaussian blobs at random places. */
export function blobSubject(n: number, ids: number[], seed: number): SubjectVolumes {
  const r = new Random(seed);
  const blobs = Array.from({ length: 2 + r.int(2) }, () => ({
    c: [0, 1, 2].map(() => n * (0.25 + 0.5 * r.next())),
    s: n * (0.12 + 0.1 * r.next()),
    a: 0.5 + r.next(),
  }));
  const field = new Float32Array(n * n * n);
  for (let h = 0, i = 0; h < n; h++)
    for (let w = 0; w < n; w++)
      for (let d = 0; d < n; d++, i++) {
        let v = 0;
        for (const b of blobs) {
          const q = ((h - b.c[0]) ** 2 + (w - b.c[1]) ** 2 + (d - b.c[2]) ** 2) / (2 * b.s * b.s);
          v += b.a * Math.exp(-q);
        }
        field[i] = v;
      }
  return {
    contrasts: ids.map((id) => ({
      id,
      // Contrast k: its own gain and sign, and an offset, of the same anatomy.
      data: field.map((v) => (id % 2 ? -1 : 1) * (0.6 + 0.15 * id) * v + 0.1 * (id - 4)),
    })),
  };
}

/** Two tiny-preset training steps on a mixed batch: the losses and a digest of the weights after
 *  them (called in child processes with other thread counts by amae.test.ts). */
export async function trainingDigest(): Promise<{ losses: number[]; weights: string }> {
  const { createAmae } = await import('../../lib/models/amae.js');
  const { digest } = await import('../helpers/threads.js');
  const model = createAmae({ size: [32, 32, 32], patch: 16, embedDim: 48, depth: 3, heads: 4, decoderDim: 48, decoderDepth: 1, decoderHeads: 4, normPix: true }, { seed: 12 });
  const random = new Random(4);
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const batch = model.pack([blobSubject(32, [0, 1, 2], i), blobSubject(32, [5], 7 + i), blobSubject(32, [1, 2, 3, 4, 5, 6, 7], 20 + i)], { random });
    losses.push((await model.trainStep(batch, { lr: 1e-3, maxGradNorm: 0.5 })).loss);
  }
  const w = await model.weights();
  return { losses, weights: digest(model.parameters().map((p) => w[p.name])) };
}
