// One AMAE pre-training step (forward, backward, AdamW) per preset: batch B of subjects with 3
// contrasts each, mask ratio 0.7, random volumes; time and peak RSS, each run in its own process
// (bench/amae_step.ts). When bench/torch_amae.py (the same step in
// PyTorch, the speed anchor) and Debian's python3-torch are present, it runs before and after
// amae and keeps its better time. The paper preset takes minutes on 2 cores: it runs only with
// AMAE_BENCH_PAPER=1.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { addon } from '../lib/native.js';
import type { AmaePreset } from '../lib/models/amae.js';
import { type Emit, hasTorch, runPython } from './util.js';

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
    const amae = spawnSync(process.execPath, ['--import=tsx', path.join(dir, 'amae_step.ts'), preset, String(batch), String(CONTRASTS)], { encoding: 'utf8' });
    if (amae.status !== 0) throw new Error(`amae_step.ts ${preset} failed: ${amae.stderr}`);
    const { step_ms: ms, threads, peak_rss_mb: rss } = JSON.parse(amae.stdout.trim().split('\n').pop()!) as Record<string, number>;
    const after = before.length ? anchor() : [];
    const record: Record<string, unknown> = {
      preset,
      batch,
      contrasts: CONTRASTS,
      threads,
      step_ms: +ms.toFixed(1),
      samples_per_s: +((batch * 1e3) / ms).toFixed(2),
      peak_rss_mb: Math.round(rss),
    };
    const torch = [...before, ...after] as { step_ms: number; peak_rss_mb: number }[];
    if (torch.length) {
      const t = Math.min(...torch.map((r) => r.step_ms));
      const m = Math.max(...torch.map((r) => r.peak_rss_mb));
      // > 1: amae is faster; < 1: amae needs less memory.
      Object.assign(record, {
        torch_step_ms: +t.toFixed(1),
        speed_vs_torch: +(t / ms).toFixed(2),
        torch_peak_rss_mb: Math.round(m),
        rss_vs_torch: +(rss / m).toFixed(2),
      });
    }
    emit(record);
  }
}
