// Conv3d k=3 forward and backward (dx, dw) at 48³, N = 1, C → C channels, against PyTorch's CPU
// convolution (oneDNN) measured in the same run with 2 threads. PyTorch runs before and after
// amae and keeps its better time, so a burst of load from elsewhere cannot flatter amae.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addon } from '../lib/native.js';
import { ops } from '../lib/index.js';
import { randn } from '../test/helpers/random.js';
import { type Emit, hasTorch, runPython, timeit } from './util.js';

const size = 48;
const channels = [16, 32];
const dir = path.dirname(fileURLToPath(import.meta.url));

export default async function (emit: Emit): Promise<void> {
  const anchor = () =>
    hasTorch() ? runPython(path.join(dir, 'torch_conv.py'), [String(size), ...channels.map(String)]) : [];
  const before = anchor();
  if (!before.length) emit({ note: 'PyTorch not available: no anchor' });
  const ours: { c: number; fwd: number; bwd: number }[] = [];
  for (const c of channels) {
    const x = randn([1, c, size, size, size], 1);
    const w = randn([c, c, 3, 3, 3], 2, 0.1);
    const dy = randn([1, c, size, size, size], 3);
    ours.push({
      c,
      fwd: (await timeit(() => ops.conv3dForward(x, w))) * 1e3,
      bwd: (await timeit(() => ops.conv3dBackward(x, w, dy, { db: false }))) * 1e3,
    });
  }
  const after = before.length ? anchor() : [];
  for (const { c, fwd, bwd } of ours) {
    // 2 flops per multiply-add; the backward does the forward's work twice (dx and dw).
    const gflop = (2 * c * c * 27 * size ** 3) / 1e9;
    const record: Record<string, unknown> = {
      case: `conv3d k3 ${c}->${c} @${size}^3`,
      threads: addon.build.threads,
      fwd_ms: +fwd.toFixed(2),
      fwd_gflops: +(gflop / (fwd / 1e3)).toFixed(1),
      bwd_ms: +bwd.toFixed(2),
      bwd_gflops: +((2 * gflop) / (bwd / 1e3)).toFixed(1),
    };
    const runs = [...before, ...after].filter((r) => r.channels === c) as { fwd_ms: number; bwd_ms: number }[];
    if (runs.length) {
      const t = { fwd_ms: Math.min(...runs.map((r) => r.fwd_ms)), bwd_ms: Math.min(...runs.map((r) => r.bwd_ms)) };
      Object.assign(record, {
        torch_fwd_ms: +t.fwd_ms.toFixed(2),
        torch_fwd_gflops: +(gflop / (t.fwd_ms / 1e3)).toFixed(1),
        torch_bwd_ms: +t.bwd_ms.toFixed(2),
        torch_bwd_gflops: +((2 * gflop) / (t.bwd_ms / 1e3)).toFixed(1),
        // > 1: amae is faster.
        fwd_speed_vs_torch: +(t.fwd_ms / fwd).toFixed(2),
        bwd_speed_vs_torch: +(t.bwd_ms / bwd).toFixed(2),
      });
    }
    emit(record);
  }
}
