// A segmentation model over a whole volume of any size: sliding windows of the model's size (see
// sliding-window.ts), each window packed as a subject with the contrasts the volume has, logits
// stitched, then the sigmoid. Probabilities [classes][H][W][D].
import type { ContrastVolume } from '../models/batch.js';
import type { AnySegmentationModel } from '../models/segmentation.js';
import { type SlidingWindowOptions, type Size3, slidingWindowInference } from './sliding-window.js';

export interface SegmentOptions extends Omit<SlidingWindowOptions, 'roi'> {}

/** Sigmoid probabilities [classes][H][W][D] of one subject's contrasts (each [H][W][D], any size). */
export async function segmentVolume(
  model: AnySegmentationModel,
  contrasts: readonly ContrastVolume[],
  size: Size3,
  options: SegmentOptions = {},
): Promise<Float32Array> {
  const roi = model.config.size;
  const V = size[0] * size[1] * size[2];
  const C = contrasts.length;
  const input = new Float32Array(C * V);
  contrasts.forEach((c, i) => {
    if (c.data.length !== V) throw new RangeError(`contrasts[${i}] has ${c.data.length} voxels; [${size}] needs ${V}`);
    input.set(c.data, i * V);
  });
  const R = roi[0] * roi[1] * roi[2];
  const { output } = await slidingWindowInference(
    input,
    C,
    size,
    async (windows, n) => {
      const subjects = Array.from({ length: n }, (_, k) => ({
        contrasts: contrasts.map((c, i) => ({ id: c.id, data: windows.subarray((k * C + i) * R, (k * C + i + 1) * R) })),
      }));
      return (await model.forward(model.pack(subjects))).logits.data;
    },
    { batchSize: 2, ...options, roi },
  );
  // The logits were blended (as MONAI blends the predictor's output); probabilities after.
  for (let i = 0; i < output.length; i++) output[i] = 1 / (1 + Math.exp(-output[i]));
  return output;
}
