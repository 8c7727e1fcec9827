// A segmentation model over a whole volume of any size: sliding windows of the model's size (see
// sliding-window.ts), each window packed as a subject with the contrasts the volume has, logits
// stitched, then the sigmoid. Probabilities [classes][H][W][D].
import type { ContrastVolume } from '../models/batch.js';
import type { AnySegmentationModel } from '../models/segmentation.js';
import { type SlidingWindowOptions, type Size3, slidingWindowInference } from './sliding-window.js';

export interface SegmentOptions extends Omit<SlidingWindowOptions, 'roi'> {
  /** Mirroring test-time augmentation as nnU-Net's: the probabilities averaged over the 8
   * combinations of flipping each axis (each flip undone before averaging). */
  tta?: boolean;
}

/** A copy of `data` ([C][H][W][D] with C = data.length / (H·W·D)) flipped along the axes set in `mask`. */
export function flipVolume(data: Float32Array, size: Size3, mask: number): Float32Array {
  if (mask === 0) return data;
  const [H, W, D] = size;
  const V = H * W * D;
  const out = new Float32Array(data.length);
  for (let c = 0; c < data.length / V; c++)
    for (let h = 0; h < H; h++) {
      const hh = mask & 1 ? H - 1 - h : h;
      for (let w = 0; w < W; w++) {
        const ww = mask & 2 ? W - 1 - w : w;
        const src = c * V + (hh * W + ww) * D;
        const dst = c * V + (h * W + w) * D;
        if (mask & 4) for (let d = 0; d < D; d++) out[dst + d] = data[src + D - 1 - d];
        else out.set(data.subarray(src, src + D), dst);
      }
    }
  return out;
}

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
  if (options.tta) {
    // Each flip's probabilities, flipped back, averaged (a flip is its own inverse).
    let sum: Float32Array | undefined;
    for (let mask = 0; mask < 8; mask++) {
      const flipped = flipVolume(input, size, mask);
      const probs = flipVolume(
        await segmentVolume(model, contrasts.map((c, i) => ({ id: c.id, data: flipped.subarray(i * V, (i + 1) * V) })), size, { ...options, tta: false }),
        size,
        mask,
      );
      if (!sum) sum = new Float32Array(probs.length);
      for (let i = 0; i < probs.length; i++) sum[i] += probs[i] / 8;
    }
    return sum!;
  }
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
    { batchSize: options.batchSize ?? 1, overlap: options.overlap, mode: options.mode, sigmaScale: options.sigmaScale, roi },
  );
  // The logits were blended (as MONAI blends the predictor's output); probabilities after.
  for (let i = 0; i < output.length; i++) output[i] = 1 / (1 + Math.exp(-output[i]));
  return output;
}
