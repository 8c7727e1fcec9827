// `npm run bench predict`: UNETR by sliding windows (overlap 0.5, Gaussian weights, one window a
// call; PyTorch two, its faster setting) over a 128³ and a 240×240×155 volume of 3 contrasts, at the demo preset and (with
// AMAE_BENCH_PAPER=1, minutes on 2 cores) the paper size: windows/s, wall time and peak RSS, each in
// its own process, against the same sliding window in PyTorch (bench/torch_seg.py predict) in the
// same run. The volume is random: only the time and memory are measured.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addon } from '../lib/native.js';
import { type Emit, hasTorch, runPython } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));

export default async function (emit: Emit): Promise<void> {
  const script = path.join(dir, 'torch_seg.py');
  const withTorch = fs.existsSync(script) && hasTorch();
  if (!withTorch) emit({ note: 'bench/torch_seg.py or PyTorch not available: no anchor' });
  const presets = ['demo', ...(process.env.AMAE_BENCH_PAPER ? ['paper'] : [])];
  for (const preset of presets)
    for (const size of [[128, 128, 128], [240, 240, 155]]) {
      const run = spawnSync(process.execPath, ['--import=tsx', path.join(dir, 'predict_volume.ts'), preset, ...size.map(String)], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`predict_volume.ts ${preset} failed: ${run.stderr}`);
      const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as { windows: number; wall_s: number; peak_rss_mb: number };
      const record: Record<string, unknown> = { model: 'unetr', preset, size, threads: addon.build.threads, ...r, windows_per_s: +(r.windows / r.wall_s).toFixed(3) };
      if (withTorch) {
        const [t] = runPython(script, ['predict', preset, ...size.map(String), String(addon.build.threads), '3']) as { windows: number; wall_s: number; peak_rss_mb: number }[];
        if (t)
          Object.assign(record, {
            torch_windows: t.windows,
            torch_wall_s: +t.wall_s.toFixed(2),
            torch_peak_rss_mb: Math.round(t.peak_rss_mb),
            speed_vs_torch: +(t.wall_s / r.wall_s).toFixed(2),
            rss_vs_torch: +(r.peak_rss_mb / t.peak_rss_mb).toFixed(2),
          });
      }
      emit(record);
    }
}
