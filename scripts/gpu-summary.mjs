// The summary table of scripts/gpu-check.sh, printed last (the device tool returns the end of the
// output): phases, the parity of every op (worst ‖a−b‖/‖b‖ per math mode and GEMM), the tiny
// AMAE model CPU vs CUDA, and the benchmark. Exits 1 when anything failed.
// Usage: node scripts/gpu-summary.mjs OUT_DIR PHASES_TSV
import fs from 'node:fs';
import path from 'node:path';

const [out, phasesFile] = process.argv.slice(2);
const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
const jsonLines = (text, prefix = '{') =>
  text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
const table = (rows) => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n');
};
const fmt = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : v === undefined ? '-' : String(v));
const sci = (v) => (typeof v === 'number' ? (Number.isFinite(v) ? v.toExponential(1) : String(v)) : '-');
let failed = false;

// ---- phases
const phases = read(phasesFile)
  .split('\n')
  .filter(Boolean)
  .map((l) => l.split('\t'));
console.log('\n==== gpu-check summary');
const device = jsonLines(read(path.join(out, 'parity.jsonl'))).find((r) => r.kind === 'device');
if (device) {
  const gib = (b) => (b / 2 ** 30).toFixed(1);
  console.log(
    device.available
      ? `device: ${device.name}, sm_${device.major}${device.minor}, ${device.multiprocessors} SMs, ${gib(device.totalMemory)} GiB; build: cuBLAS ${device.cublas ? 'yes' : 'no'}`
      : `device: CUDA unavailable: ${device.reason}`,
  );
}
console.log(table([['phase', 'status', 'seconds'], ...phases]));
for (const [, status] of phases) if (!/^ok|^skipped \(GPU_CHECK_SKIP\)|no cuBLAS/.test(status)) failed = true;
for (const log of ['test-cuda.log', 'test-own-gemm.log']) {
  const counts = read(path.join(out, log))
    .split('\n')
    .filter((l) => /^\s+\d+ (tests? (passed|failed|skipped)|known failure|uncaught exception|unhandled rejection)/.test(l))
    .map((l) => l.trim());
  if (counts.length) console.log(`${log}: ${counts.join(', ')}`);
  const undef = read(path.join(out, log)).match(/leaves undefined: (.*)/);
  if (undef) console.log(`${log}: the addon lacks ${undef[1]}`);
}

// ---- parity
const records = jsonLines(read(path.join(out, 'parity.jsonl')));
const parity = records.filter((r) => r.kind === 'parity');
if (parity.length) {
  const columns = [...new Set(parity.map((r) => `${r.math}${r.gemm === 'own' ? '/own' : ''}`))].sort();
  const ops = [...new Set(parity.map((r) => r.op))].sort();
  const rows = ops.map((op) => [
    op,
    ...columns.map((c) => {
      const r = parity.find((p) => p.op === op && `${p.math}${p.gemm === 'own' ? '/own' : ''}` === c);
      if (!r) return '';
      if (!r.ok) failed = true;
      return `${r.ok ? '' : 'FAIL '}${sci(r.worst)}${r.repeatable === false ? ' nd' : ''}`;
    }),
  ]);
  const bad = parity.filter((r) => !r.ok).map((r) => `${r.op} (${r.math}${r.gemm === 'own' ? '/own' : ''})`);
  console.log(`\nparity: worst ‖cuda−cpu‖/‖cpu‖ per op (bounds: f32 1e-4, bf16 1e-2, attention 2e-2; nd = repeat run not bit-identical)`);
  console.log(table([['op', ...columns], ...rows]));
  console.log(bad.length ? `FAILED: ${bad.join(', ')}  (rerun: AMAE_PARITY_OPS=${[...new Set(parity.filter((r) => !r.ok).map((r) => r.op))].join(',')})` : `all ${parity.length} op checks passed`);
}
for (const r of records.filter((x) => x.kind === 'amae-grads' || x.kind === 'amae-steps')) {
  if (!r.ok) failed = true;
  console.log(
    r.kind === 'amae-grads'
      ? `tiny AMAE, first batch: worst gradient ‖a−b‖/‖b‖ ${sci(r.worst)} (bound 1e-3) ${r.ok ? 'ok' : 'FAIL'}`
      : `tiny AMAE, 10 steps: worst loss/grad-norm relative error ${sci(r.worst)} (bound 1e-3) ${r.ok ? 'ok' : 'FAIL'}; weights after ${sci(r.weights)}`,
  );
}

// ---- bench
const bench = jsonLines(read(path.join(out, 'bench.log')), '{"bench"');
if (bench.length) {
  const peak = bench.find((r) => r.kind === 'peak');
  const mfu = bench.find((r) => r.impl === 'amae-mfu');
  console.log(`\nbenchmark: AMAE pre-training step${peak ? `; peak bf16 matmul measured ${fmt(peak.peak_bf16_tflops, 0)} TFLOP/s on ${peak.gpu} (torch ${peak.torch})` : ''}`);
  const rows = bench
    .filter((r) => r.impl === 'amae' || String(r.impl).startsWith('torch-'))
    .map((r) => {
      if (r.error) {
        failed = true;
        return [r.impl, r.preset, r.batch, 'ERROR', String(r.error).slice(0, 120), '', '', ''];
      }
      const isAmae = r.impl === 'amae';
      const m = isAmae ? mfu?.mfu : r.mfu;
      return [
        isAmae ? `amae (${r.math}, ${r.gemm})` : r.impl,
        r.preset,
        r.batch,
        fmt(r.step_ms, 2),
        fmt(r.samples_per_s, 1),
        fmt(isAmae ? r.gpu_mem_mb : r.max_memory_allocated_mb, 0),
        m === undefined ? '-' : `${(m * 100).toFixed(1)}%`,
        isAmae ? '' : fmt(r.amae_speed_vs_this, 2),
      ];
    });
  console.log(table([['impl', 'preset', 'batch', 'step ms', 'samples/s', 'GPU MB', 'MFU', 'amae speed vs'], ...rows]));
  console.log('GPU MB: amae = drop in free device memory (cudaMemGetInfo), torch = max_memory_allocated');
  for (const n of bench.filter((r) => r.note)) console.log(`note: ${n.note}`);
}
console.log(failed ? '\ngpu-check: FAILURES above' : '\ngpu-check: all passed');
process.exit(failed ? 1 : 0);
