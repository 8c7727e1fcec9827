// One segmentation model's fine-tuning step (forward, soft Dice, backward, AdamW) and forward pass,
// timed in a process of its own so that its peak RSS is its own (the PyTorch anchor,
// bench/torch_seg.py, is measured the same way). Prints one JSON line.
// Usage: node --import=tsx bench/seg_step.ts MODEL PRESET BATCH CONTRASTS
import { addon } from '../lib/native.js';
import { type SegmentationKind, type SegmentationPreset, createSegmentationModel } from '../lib/models/segmentation.js';
import { Random } from '../lib/util/random.js';
import { timeit } from './util.js';

const [kind, preset] = [process.argv[2] as SegmentationKind, process.argv[3] as SegmentationPreset];
const [batch, contrasts] = [Number(process.argv[4]), Number(process.argv[5])];

const model = createSegmentationModel(kind, preset, { seed: 0 });
const [h, w, d] = model.config.size;
const random = new Random(1);
const volume = (f: () => number) => Float32Array.from({ length: h * w * d }, f);
const subjects = Array.from({ length: batch }, () => ({
  contrasts: Array.from({ length: contrasts }, (_, id) => ({ id, data: volume(() => random.next() - 0.5) })),
  label: volume(() => (random.next() < 0.1 ? 1 : 0)),
}));
const packed = model.pack(subjects);
const paper = preset === 'paper';
const train = await timeit(() => model.trainStep(packed, { lr: 1e-4, beta2: 0.999 }), { minSeconds: paper ? 0 : 3, minRuns: paper ? 2 : 3 });
const forward = await timeit(() => model.forward({ ...packed, labels: undefined }), { minSeconds: paper ? 0 : 3, minRuns: paper ? 2 : 3 });
console.log(JSON.stringify({ train_s: train, forward_s: forward, threads: addon.build.threads, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
