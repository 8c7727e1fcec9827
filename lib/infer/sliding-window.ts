// Sliding-window inference over a volume of any size, with the same window positions and weights as
// MONAI's `sliding_window_inference(mode="gaussian", sigma_scale=0.125)` (monai/inferers/utils.py
// with compute_importance_map and dense_patch_slices of monai/data/utils.py), so that the same
// per-window outputs stitch to the same result: a volume smaller than the window is zero-padded
// (half before, the rest after) and cropped back; windows start every ⌊roi·(1 − overlap)⌋ voxels,
// the last one moved back to end at the border; each window's output is weighted by a separable
// Gaussian (σ = 0.125·roi per axis, clamped below at max(min, 1e-3)) and the sum divided by the
// summed weights. Memory is the output and one weight map of the volume plus one batch of windows.
import { numel } from '../tensor.js';

export type Size3 = readonly [number, number, number];

export interface SlidingWindowOptions {
  /** The window size (the model's input size). */
  roi: Size3;
  /** Fraction of a window shared with the next (MONAI: `overlap`), in [0, 1); default 0.5. */
  overlap?: number;
  /** Blending: 'gaussian' (default) or 'constant' (equal weights). */
  mode?: 'gaussian' | 'constant';
  /** σ of the Gaussian per axis, as a fraction of the window (default 0.125). */
  sigmaScale?: number;
  /** Windows per predictor call (MONAI: `sw_batch_size`); default 2 here, 1 in segmentVolume
   * (a paper-size UNETR then segments 240×240×155 within 1.9 GB peak RSS; 2 windows: 2.8 GB). */
  batchSize?: number;
}

/** A batch of windows in, their outputs out: input [n][C][roi], output [n][K][roi] (K fixed). */
export type WindowPredictor = (windows: Float32Array, count: number) => Promise<Float32Array>;

/** MONAI's _get_scan_interval: the step between window starts per axis (at least 1). */
export function scanInterval(image: Size3, roi: Size3, overlap: number): [number, number, number] {
  return image.map((s, i) => {
    if (roi[i] === s) return roi[i];
    const step = Math.floor(roi[i] * (1 - overlap));
    return step > 0 ? step : 1;
  }) as [number, number, number];
}

/** MONAI's dense_patch_slices: every window's start [h, w, d], in meshgrid "ij" order. */
export function windowStarts(image: Size3, roi: Size3, interval: Size3): [number, number, number][] {
  const perAxis = image.map((s, i) => {
    // The first window count whose last window reaches the border.
    const num = Math.ceil(s / interval[i]);
    let count = 1;
    for (let k = 0; k < num; k++)
      if (k * interval[i] + roi[i] >= s) {
        count = k + 1;
        break;
      }
    return Array.from({ length: count }, (_, k) => k * interval[i] - Math.max(k * interval[i] + roi[i] - s, 0));
  });
  const out: [number, number, number][] = [];
  for (const h of perAxis[0]) for (const w of perAxis[1]) for (const d of perAxis[2]) out.push([h, w, d]);
  return out;
}

/** MONAI's compute_importance_map for one window [roi] (float32), with the sliding window's clamp. */
export function importanceMap(roi: Size3, mode: 'gaussian' | 'constant' = 'gaussian', sigmaScale = 0.125): Float32Array {
  const map = new Float32Array(numel([...roi]));
  if (mode === 'constant') return map.fill(1);
  // exp(x² / (−2σ²)) at x = −(n − 1)/2 … (n − 1)/2, in float32 as torch computes it, per axis.
  const axis = roi.map((n) => {
    const sigma = Math.fround(n * sigmaScale);
    return Float32Array.from({ length: n }, (_, i) => {
      const x = Math.fround(-(n - 1) / 2 + i);
      return Math.fround(Math.exp(Math.fround(Math.fround(x * x) / Math.fround(-2 * Math.fround(sigma * sigma)))));
    });
  });
  let i = 0;
  for (let h = 0; h < roi[0]; h++)
    for (let w = 0; w < roi[1]; w++) {
      const hw = Math.fround(axis[0][h] * axis[1][w]);
      for (let d = 0; d < roi[2]; d++) map[i++] = Math.fround(hw * axis[2][d]);
    }
  let min = Infinity;
  for (const v of map) min = Math.min(min, v);
  const floor = Math.max(min, 1e-3);
  for (let j = 0; j < map.length; j++) if (map[j] < floor) map[j] = floor;
  return map;
}

/**
 * Runs `predict` over windows of `input` ([C][H][W][D], any size) and stitches the outputs into
 * [K][H][W][D]. K is taken from the first batch of outputs.
 */
export async function slidingWindowInference(
  input: Float32Array,
  channels: number,
  size: Size3,
  predict: WindowPredictor,
  options: SlidingWindowOptions,
): Promise<{ output: Float32Array; classes: number }> {
  const { roi, overlap = 0.5, mode = 'gaussian', sigmaScale = 0.125, batchSize = 2 } = options;
  if (!(overlap >= 0 && overlap < 1)) throw new RangeError(`overlap must lie in [0, 1), got ${overlap}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const V = numel([...size]);
  if (input.length !== channels * V) throw new RangeError(`input has ${input.length} values; ${channels} channel(s) of [${size}] need ${channels * V}`);
  // Padded to at least the window (MONAI: half before, the rest after).
  const image = size.map((s, i) => Math.max(s, roi[i])) as [number, number, number];
  const before = size.map((s, i) => Math.floor(Math.max(roi[i] - s, 0) / 2));
  const starts = windowStarts(image, roi, scanInterval(image, roi, overlap));
  const weight = importanceMap(roi, mode, sigmaScale);
  const R = numel([...roi]);
  const [H, W, D] = size;
  let classes = 0;
  let output = new Float32Array(0);
  const count = new Float32Array(V);

  // A window's voxel (h, w, d) lies at padded (s + h, …), i.e. at original (s + h − before, …).
  // Each of the window's rows (h, w) inside the volume, with the original (y, x) and the window's
  // d range [d0, d1) inside it: what cropping and stitching both walk.
  const rows = (s: [number, number, number], fn: (h: number, w: number, y: number, x: number, d0: number, d1: number) => void) => {
    const d0 = Math.max(0, before[2] - s[2]);
    const d1 = Math.min(roi[2], D + before[2] - s[2]);
    for (let h = 0; h < roi[0]; h++) {
      const y = s[0] + h - before[0];
      if (y < 0 || y >= H) continue;
      for (let w = 0; w < roi[1]; w++) {
        const x = s[1] + w - before[1];
        if (x >= 0 && x < W) fn(h, w, y, x, d0, d1);
      }
    }
  };
  const crop = (buf: Float32Array, at: number, s: [number, number, number]) => {
    for (let c = 0; c < channels; c++)
      rows(s, (h, w, y, x, d0, d1) => {
        const src = (c * H + y) * W * D + x * D + (s[2] - before[2]);
        const dst = at + ((c * roi[0] + h) * roi[1] + w) * roi[2];
        buf.set(input.subarray(src + d0, src + d1), dst + d0);
      });
  };
  for (let b = 0; b < starts.length; b += batchSize) {
    const batch = starts.slice(b, b + batchSize);
    const windows = new Float32Array(batch.length * channels * R);
    batch.forEach((s, n) => crop(windows, n * channels * R, s));
    const out = await predict(windows, batch.length);
    if (classes === 0) {
      classes = out.length / (batch.length * R);
      if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`the predictor returned ${out.length} values for ${batch.length} window(s) of [${roi}]`);
      output = new Float32Array(classes * V);
    } else if (out.length !== batch.length * classes * R) {
      throw new RangeError(`the predictor returned ${out.length} values for ${batch.length} window(s); expected ${batch.length * classes * R}`);
    }
    // Weighted sums onto the unpadded volume (padding is cropped away, as MONAI crops it after).
    batch.forEach((s, n) =>
      rows(s, (h, w, y, x, d0, d1) => {
        for (let d = d0; d < d1; d++) {
          const r = (h * roi[1] + w) * roi[2] + d;
          const v = (y * W + x) * D + (s[2] + d - before[2]);
          count[v] += weight[r];
          for (let k = 0; k < classes; k++) output[k * V + v] += weight[r] * out[(n * classes + k) * R + r];
        }
      }),
    );
  }
  for (let k = 0; k < classes; k++) for (let v = 0; v < V; v++) output[k * V + v] /= count[v];
  return { output, classes };
}
