// One sliding-window prediction of a random 3-contrast volume with a fresh UNETR, in a process of
// its own so that its peak RSS is its own. Usage: node --import=tsx bench/predict_volume.ts PRESET H W D
import { segmentVolume } from '../lib/infer/segment.js';
import { scanInterval, windowStarts } from '../lib/infer/sliding-window.js';
import { type SegmentationPreset, Unetr } from '../lib/models/segmentation.js';
import { Random } from '../lib/util/random.js';

const preset = process.argv[2] as SegmentationPreset;
const size = process.argv.slice(3, 6).map(Number) as [number, number, number];
const model = new Unetr(preset, { seed: 0 });
const random = new Random(1);
const V = size[0] * size[1] * size[2];
const contrasts = [0, 1, 2].map((id) => ({ id, data: Float32Array.from({ length: V }, () => random.next() - 0.5) }));
const roi = model.config.size;
const image = size.map((s, i) => Math.max(s, roi[i])) as [number, number, number];
const windows = windowStarts(image, roi, scanInterval(image, roi, 0.5)).length;
const t0 = performance.now();
await segmentVolume(model, contrasts, size);
const wall = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ windows, wall_s: wall, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
