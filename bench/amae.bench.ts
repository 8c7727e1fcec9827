// One AMAE pre-training step (forward, backward, AdamW) per preset: batch B of subjects with 3
// contrasts each, mask ratio 0.7, random volumes. When bench/torch_amae.py (the same step in
// PyTorch, the speed anchor) and Debian's python3-torch are present, it runs before and after
// amae and keeps its better time. The paper preset takes minutes on 2 cores: it runs only with
// AMAE_BENCH_PAPER=1.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addon } from '../lib/native.js';
import { type AmaePreset, createAmae } from '../lib/models/amae.js';
import { Random } from '../lib/util/random.js';
import { type Emit, hasTorch, runPython, timeit } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const CONTRASTS = 3;
const cases: { preset: AmaePreset; batch: number }[] = [
  { preset: 'tiny', batch: 2 },
  { preset: 'demo', batch: 4 },
  ...(process.env.AMAE_BENCH_PAPER ? [{ preset: 'paper' as const, batch: 4 }] : []),
];

export default async function (emit: Emit): Promise<void> {
  const script = path.join(dir, 'torch_amae.py');
  const withTorch = fs.existsSync(script) && hasTorch();
  if (!withTorch) emit({ note: 'bench/torch_amae.py or PyTorch not available: no anchor' });
  for (const { preset, batch } of cases) {
    const anchor = () =>
      withTorch ? runPython(script, [preset, String(batch), String(CONTRASTS), preset === 'paper' ? '3' : '10', String(addon.build.threads)]) : [];
    const before = anchor();
    const model = createAmae(preset, { seed: 0 });
    const [h, w, d] = model.config.size;
    const random = new Random(1);
    const subjects = Array.from({ length: batch }, () => ({
      contrasts: Array.from({ length: CONTRASTS }, (_, id) => ({ id, data: Float32Array.from({ length: h * w * d }, () => random.next() - 0.5) })),
    }));
    const step = await timeit(() => model.trainStep(model.pack(subjects, { random }), { lr: 1e-4 }), {
      minSeconds: preset === 'paper' ? 0 : 3,
    });
    const after = before.length ? anchor() : [];
    const record: Record<string, unknown> = {
      preset,
      batch,
      contrasts: CONTRASTS,
      threads: addon.build.threads,
      step_ms: +(step * 1e3).toFixed(1),
      samples_per_s: +(batch / step).toFixed(2),
    };
    const torch = [...before, ...after] as { step_ms: number }[];
    if (torch.length) {
      const t = Math.min(...torch.map((r) => r.step_ms));
      // > 1: amae is faster.
      Object.assign(record, { torch_step_ms: +t.toFixed(1), speed_vs_torch: +(t / (step * 1e3)).toFixed(2) });
    }
    emit(record);
  }
}
