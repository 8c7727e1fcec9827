// One AMAE pre-training step (forward, backward, AdamW) per preset: batch B of subjects with 3
// contrasts each, mask ratio 0.7, random volumes; time and peak RSS, each run in its own process
// (bench/amae_step.ts). When bench/torch_amae.py (the same step in
// PyTorch, the speed anchor) and Debian's python3-torch are present, it runs before and after
// amae and keeps its better time. The paper preset takes minutes on 2 cores: it runs only with
// AMAE_BENCH_PAPER=1.
//
// AMAE_BENCH_DEVICE=cuda: the GPU instead (see benchCuda below): the paper preset's step at each
// batch of AMAE_BENCH_BATCH (default 16; a list like 4,16 runs each), amae then PyTorch on the
// same GPU (eager with bf16 autocast and SDPA, and torch.compile), with samples/s, memory and MFU
// against the bf16 matrix rate PyTorch measures in the same run.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { addon } from '../lib/native.js';
import type { AmaePreset } from '../lib/models/amae.js';
import { type Emit, hasTorch, pythonHas, runPython } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const CONTRASTS = 3;
const cases: { preset: AmaePreset; batch: number }[] = [
  { preset: 'tiny', batch: 2 },
  { preset: 'demo', batch: 4 },
  ...(process.env.AMAE_BENCH_PAPER ? [{ preset: 'paper' as const, batch: 4 }] : []),
];

export default async function (emit: Emit): Promise<void> {
  if ((process.env.AMAE_BENCH_DEVICE ?? 'cpu') === 'cuda') return benchCuda(emit);
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

/**
 * The GPU step. amae (bench/amae_step.ts with AMAE_BENCH_DEVICE=cuda; math AMAE_BENCH_MATH, bf16
 * by default) first, then the PyTorch anchor (bench/torch_amae.py device=cuda: the bf16 peak,
 * then eager and torch.compile), each in its own process, so their memory figures are their own.
 * amae's MFU uses the anchor's FLOP count and measured peak (see torch_amae.py for the formula).
 * AMAE_BENCH_PRESET (paper), AMAE_BENCH_STEPS (20), AMAE_BENCH_TORCH_MODES (eager,compile) and
 * AMAE_BENCH_TORCH_TIMEOUT (seconds, 240) adjust it.
 */
async function benchCuda(emit: Emit): Promise<void> {
  const preset = (process.env.AMAE_BENCH_PRESET ?? 'paper') as AmaePreset;
  const steps = process.env.AMAE_BENCH_STEPS ?? '20';
  const modes = process.env.AMAE_BENCH_TORCH_MODES ?? 'eager,compile';
  // AMAE_BENCH_DEADLINE_MS (scripts/gpu-check.sh): each child stops in time for the rest to print.
  const deadline = Number(process.env.AMAE_BENCH_DEADLINE_MS ?? Infinity);
  const secondsLeft = () => Math.max(10, Math.floor((deadline - Date.now()) / 1000) - 5);
  const script = path.join(dir, 'torch_amae.py');
  const withTorch = modes !== '' && fs.existsSync(script) && pythonHas('torch');
  if (!withTorch) emit({ note: 'PyTorch not available (AMAE_PYTHON names the python3 that has it): no anchor' });
  for (const batch of (process.env.AMAE_BENCH_BATCH ?? '16').split(',').map(Number)) {
    const base = { preset, batch, contrasts: CONTRASTS, device: 'cuda' };
    const amae = spawnSync(process.execPath, ['--import=tsx', path.join(dir, 'amae_step.ts'), preset, String(batch), String(CONTRASTS)], {
      encoding: 'utf8',
      env: { ...process.env, AMAE_BENCH_DEVICE: 'cuda', AMAE_BENCH_STEPS: steps },
      // Half of what is left, so that the anchor still runs after a hang.
      ...(Number.isFinite(deadline) ? { timeout: (secondsLeft() / 2) * 1000, killSignal: 'SIGKILL' as const } : {}),
    });
    let amaeMs: number | undefined;
    if (amae.status !== 0) {
      const lines = amae.stderr.trim().split('\n');
      const why = amae.error ? amae.error.message : (lines.find((l) => /^\s*\w*Error: /.test(l)) ?? lines.slice(-3).join(' | ')).trim();
      emit({ ...base, impl: 'amae', error: `amae_step.ts failed: ${why}` });
    } else {
      const r = JSON.parse(amae.stdout.trim().split('\n').pop()!) as Record<string, number | string>;
      amaeMs = r.step_ms as number;
      emit({ ...base, impl: 'amae', ...r, samples_per_s: (batch * 1e3) / amaeMs });
    }
    if (!withTorch) continue;
    const timeout = Math.min(Number(process.env.AMAE_BENCH_TORCH_TIMEOUT ?? 240), secondsLeft());
    const torch = runPython(script, [preset, String(batch), String(CONTRASTS), steps, '1', 'device=cuda', `modes=${modes}`], {}, timeout);
    const peak = torch.find((t) => t.kind === 'peak');
    const flops = torch.find((t) => typeof t.flops_per_step === 'number')?.flops_per_step as number | undefined;
    for (const t of torch) {
      if (t.kind === 'torch') {
        const speed = typeof t.step_ms === 'number' && amaeMs ? { amae_speed_vs_this: t.step_ms / amaeMs } : {};
        emit({ ...base, ...t, impl: `torch-${t.mode}`, ...speed });
      } else emit({ ...base, impl: 'torch', ...t });
    }
    // amae's MFU: the anchor's FLOP count of the same step over amae's time, against the peak.
    if (peak && flops && amaeMs) {
      const tflops = flops / (amaeMs / 1e3) / 1e12;
      emit({ ...base, impl: 'amae-mfu', flops_per_step: flops, tflops, mfu: tflops / (peak.peak_bf16_tflops as number), peak_bf16_tflops: peak.peak_bf16_tflops });
    }
  }
}
