// One preset's AMAE training step, timed in a process of its own so that its peak RSS is its
// own (the anchor, bench/torch_amae.py, is measured the same way). Prints one JSON line.
// Usage: node --import=tsx bench/amae_step.ts PRESET BATCH CONTRASTS
import { addon } from '../lib/native.js';
import { type AmaePreset, createAmae } from '../lib/models/amae.js';
import { Random } from '../lib/util/random.js';
import { timeit } from './util.js';

const [preset, batch, contrasts] = [process.argv[2] as AmaePreset, Number(process.argv[3]), Number(process.argv[4])];
const model = createAmae(preset, { seed: 0 });
const [h, w, d] = model.config.size;
const random = new Random(1);
const subjects = Array.from({ length: batch }, () => ({
  contrasts: Array.from({ length: contrasts }, (_, id) => ({ id, data: Float32Array.from({ length: h * w * d }, () => random.next() - 0.5) })),
}));
const step = await timeit(() => model.trainStep(model.pack(subjects, { random }), { lr: 1e-4 }), {
  minSeconds: preset === 'paper' ? 0 : 3,
});
console.log(JSON.stringify({ step_ms: step * 1e3, threads: addon.build.threads, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
