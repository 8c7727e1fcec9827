// `npm run bench unetr` (adaptive-unetr, unet): one fine-tuning step and one forward pass of the
// model at the demo preset and at the paper size (96³, 3 contrasts, F 16, ViT-B; batch 1 and 2),
// samples/s and peak RSS, each in its own process (bench/seg_step.ts), with the same model in
// PyTorch (bench/torch_seg.py, Debian's python3-torch) timed in the same run as the anchor. The
// paper size takes minutes on 2 cores: it runs only with AMAE_BENCH_PAPER=1.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addon } from '../lib/native.js';
import type { SegmentationKind } from '../lib/models/segmentation.js';
import { type Emit, hasTorch, runPython } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const CONTRASTS = 3;

export async function benchSegmentation(kind: SegmentationKind, emit: Emit): Promise<void> {
  const cases = [
    { preset: 'demo', batch: 2 },
    ...(process.env.AMAE_BENCH_PAPER ? [{ preset: 'paper', batch: 1 }, { preset: 'paper', batch: 2 }] : []),
  ];
  const script = path.join(dir, 'torch_seg.py');
  const withTorch = fs.existsSync(script) && hasTorch();
  if (!withTorch) emit({ note: 'bench/torch_seg.py or PyTorch not available: no anchor' });
  for (const { preset, batch } of cases) {
    const run = spawnSync(process.execPath, ['--import=tsx', path.join(dir, 'seg_step.ts'), kind, preset, String(batch), String(CONTRASTS)], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`seg_step.ts ${kind} ${preset} failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as { train_s: number; forward_s: number; peak_rss_mb: number; threads: number };
    const record: Record<string, unknown> = {
      model: kind,
      preset,
      batch,
      contrasts: CONTRASTS,
      threads: r.threads,
      train_s: +r.train_s.toFixed(3),
      forward_s: +r.forward_s.toFixed(3),
      train_samples_per_s: +(batch / r.train_s).toFixed(3),
      forward_samples_per_s: +(batch / r.forward_s).toFixed(3),
      peak_rss_mb: Math.round(r.peak_rss_mb),
    };
    if (withTorch) {
      const [t] = runPython(script, ['bench', kind, preset, String(batch), String(addon.build.threads)]) as {
        train_s: number;
        forward_s: number;
        peak_rss_mb: number;
        torch: string;
      }[];
      if (t)
        // > 1: amae is faster; < 1: amae needs less memory.
        Object.assign(record, {
          torch: t.torch,
          torch_train_s: +t.train_s.toFixed(3),
          torch_forward_s: +t.forward_s.toFixed(3),
          torch_peak_rss_mb: Math.round(t.peak_rss_mb),
          train_speed_vs_torch: +(t.train_s / r.train_s).toFixed(2),
          forward_speed_vs_torch: +(t.forward_s / r.forward_s).toFixed(2),
          rss_vs_torch: +(r.peak_rss_mb / t.peak_rss_mb).toFixed(2),
        });
    }
    emit(record);
  }
}
