import test from 'ava';
import { importanceMap, scanInterval, slidingWindowInference, windowStarts } from '../../lib/infer/sliding-window.js';

// Window starts worked out by hand from MONAI's _get_scan_interval and dense_patch_slices.
test('window positions are MONAI sliding_window_inference’s', (t) => {
  t.deepEqual(scanInterval([100, 64, 30], [64, 64, 16], 0.5), [32, 64, 8]);
  t.deepEqual(scanInterval([10, 10, 10], [3, 3, 3], 0.9), [1, 1, 1], 'a step of 0 becomes 1');
  // 100 over 64 at step 32: starts 0, 32, then 64 moved back to 36 (ends at the border).
  const s = windowStarts([100, 64, 30], [64, 64, 16], [32, 64, 8]);
  t.deepEqual([...new Set(s.map((x) => x[0]))], [0, 32, 36]);
  t.deepEqual([...new Set(s.map((x) => x[2]))], [0, 8, 14]);
  t.is(s.length, 3 * 1 * 3);
  t.deepEqual(s.slice(0, 4), [[0, 0, 0], [0, 0, 8], [0, 0, 14], [32, 0, 0]], 'meshgrid "ij" order, the last axis fastest');
  // 240 × 240 × 155 at 96³, overlap 0.5: steps of 48.
  const big = windowStarts([240, 240, 155], [96, 96, 96], scanInterval([240, 240, 155], [96, 96, 96], 0.5));
  t.deepEqual([...new Set(big.map((x) => x[0]))], [0, 48, 96, 144]);
  t.deepEqual([...new Set(big.map((x) => x[2]))], [0, 48, 59]);
});

test('the Gaussian importance map is MONAI’s compute_importance_map (σ = 0.125·roi), clamped at max(min, 1e-3)', (t) => {
  const m = importanceMap([4, 5, 8]);
  // Separable: m[h, w, d] = g4(h)·g5(w)·g8(d), g_n(i) = exp(−(i − (n − 1)/2)² / (2(0.125 n)²)).
  const g = (n: number, i: number) => Math.exp(-((i - (n - 1) / 2) ** 2) / (2 * (0.125 * n) ** 2));
  let worst = 0;
  for (let h = 0; h < 4; h++)
    for (let w = 0; w < 5; w++)
      for (let d = 0; d < 8; d++) worst = Math.max(worst, Math.abs(m[(h * 5 + w) * 8 + d] - Math.max(g(4, h) * g(5, w) * g(8, d), 1e-3)));
  t.true(worst < 1e-6, `${worst}`);
  t.is(m[(2 * 5 + 2) * 8 + 4] < 1, true, 'even sizes have no window centre at exactly 1');
  t.true(importanceMap([96, 96, 96]).every((v) => v >= 1e-3));
  t.true(importanceMap([3, 3, 3], 'constant').every((v) => v === 1));
});

test('stitching: one window over the volume is the direct forward; a constant model is exact at every seam; small volumes are padded', async (t) => {
  const size = [20, 18, 9] as const;
  const V = 20 * 18 * 9;
  const input = Float32Array.from({ length: 2 * V }, (_, i) => Math.sin(i * 0.1));
  // A "model": per voxel, channel 0 + 2·channel 1, and a second class of 1.
  const model = async (windows: Float32Array, n: number, roi: readonly number[]) => {
    const R = roi[0] * roi[1] * roi[2];
    const out = new Float32Array(n * 2 * R);
    for (let k = 0; k < n; k++)
      for (let r = 0; r < R; r++) {
        out[(k * 2) * R + r] = windows[(k * 2) * R + r] + 2 * windows[(k * 2 + 1) * R + r];
        out[(k * 2 + 1) * R + r] = 1;
      }
    return out;
  };
  const direct = Float32Array.from({ length: V }, (_, v) => input[v] + 2 * input[V + v]);
  const whole = await slidingWindowInference(input, 2, size, (w, n) => model(w, n, size), { roi: size });
  t.is(whole.classes, 2);
  // One window: the forward itself (w·y / w, so equal to float rounding).
  t.true(whole.output.subarray(0, V).every((v, i) => Math.abs(v - direct[i]) <= 1e-6 * Math.max(1, Math.abs(direct[i]))));
  // Windows smaller than the volume: a voxel-wise model gives the same everywhere, and the constant
  // class is exactly 1 at every seam (weights divided by their own sum).
  const roi = [8, 8, 4] as const;
  const tiled = await slidingWindowInference(input, 2, size, (w, n) => model(w, n, roi), { roi, batchSize: 3 });
  t.true(tiled.output.subarray(V).every((v) => Math.abs(v - 1) < 1e-6));
  let worst = 0;
  for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(tiled.output[v] - direct[v]));
  t.true(worst < 1e-5, `${worst}`);
  // A window larger than the volume: zero padding around it, cropped back.
  const padded = await slidingWindowInference(input, 2, size, (w, n) => model(w, n, [24, 24, 16]), { roi: [24, 24, 16] });
  let worstPad = 0;
  for (let v = 0; v < V; v++) worstPad = Math.max(worstPad, Math.abs(padded.output[v] - direct[v]));
  t.true(worstPad < 1e-6, `${worstPad}`);
  await t.throwsAsync(slidingWindowInference(input, 2, size, (w, n) => model(w, n, roi), { roi, overlap: 1 }), { instanceOf: RangeError, message: /overlap must lie in \[0, 1\)/ });
});

test('segmentVolume: a volume the size of the model is one forward; larger and smaller volumes give probabilities of their own size', async (t) => {
  const { Unetr } = await import('../../lib/models/segmentation.js');
  const { segmentVolume } = await import('../../lib/infer/segment.js');
  const { blobSubject } = await import('../models/fixtures.js');
  const model = new Unetr({ size: [32, 32, 32], featureSize: 4, embedDim: 12, depth: 1, heads: 2 }, { seed: 2 });
  const s = blobSubject(32, [0, 1], 8);
  const probs = await segmentVolume(model, s.contrasts, [32, 32, 32]);
  const { logits } = await model.forward(model.pack([s]));
  let worst = 0;
  logits.data.forEach((l, i) => (worst = Math.max(worst, Math.abs(1 / (1 + Math.exp(-l)) - probs[i]))));
  t.true(worst < 1e-6, `${worst}`);
  const big = blobSubject(40, [1, 2], 9);
  const out = await segmentVolume(model, big.contrasts, [40, 40, 40]);
  t.is(out.length, 40 ** 3);
  t.true(out.every((p) => p > 0 && p < 1));
  const small = await segmentVolume(model, blobSubject(20, [0], 10).contrasts, [20, 20, 20]);
  t.is(small.length, 20 ** 3);
});

test('test-time mirroring: flips are their own inverse; TTA is the mean of the 8 flipped predictions', async (t) => {
  const { flipVolume, segmentVolume } = await import('../../lib/infer/segment.js');
  const { Unet } = await import('../../lib/models/segmentation.js');
  const { blobSubject } = await import('../models/fixtures.js');
  const size = [4, 3, 5] as const;
  const x = Float32Array.from({ length: 2 * 60 }, (_, i) => i);
  for (let m = 0; m < 8; m++) t.deepEqual(flipVolume(flipVolume(x, size, m), size, m), x);
  t.is(flipVolume(x, size, 4)[0], 4, 'd reversed');
  t.is(flipVolume(x, size, 1)[0], 45, 'h reversed');
  const model = new Unet({ size: [32, 32, 32], channels: [2, 3, 4, 5, 6] }, { seed: 3 });
  const s = blobSubject(32, [0, 1], 4);
  const tta = await segmentVolume(model, s.contrasts, [32, 32, 32], { tta: true });
  const V = 32 ** 3;
  const mean = new Float32Array(V);
  for (let m = 0; m < 8; m++) {
    const flipped = s.contrasts.map((c) => ({ id: c.id, data: flipVolume(c.data, [32, 32, 32], m) }));
    const p = flipVolume(await segmentVolume(model, flipped, [32, 32, 32]), [32, 32, 32], m);
    for (let i = 0; i < V; i++) mean[i] += p[i] / 8;
  }
  t.true(tta.every((v, i) => Math.abs(v - mean[i]) < 1e-6));
  const plain = await segmentVolume(model, s.contrasts, [32, 32, 32]);
  t.true(tta.some((v, i) => Math.abs(v - plain[i]) > 1e-4), 'a U-Net is not flip-invariant: TTA changes its output');
});
