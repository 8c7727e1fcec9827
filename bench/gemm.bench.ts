// GFLOP/s of the GEMMs in a ViT-B training step, through amae's linear ops, against OpenBLAS's
// cblas_sgemm on the same shapes in the same run.
//
// For T tokens and a layer (in, out) the three products are
//   forward  y  = x·wᵀ   M = T,   N = out, K = in    (linearForward, no bias)
//   input    dx = dy·w   M = T,   N = in,  K = out   (linearBackward, dx only)
//   weight   dw = dyᵀ·x  M = out, N = in,  K = T     (linearBackward, dw only)
// The gradients accumulate (beta = 1), so the anchor runs with the same beta.
//
// Three figures per shape:
//   amae_op     the op as a JS caller sees it, reusing its output buffer (the binding zero-fills
//               it and hops to a worker thread; op_page_faults_per_call shows what is left of
//               the allocator's cost);
//   amae_gemm   amae's sgemm alone (bench/amae_gemm.cpp), timed exactly like
//   openblas    cblas_sgemm (bench/openblas_gemm.c), OPENBLAS_NUM_THREADS = amae's threads.
// The two C programs are compiled on the fly into a temp dir and each shape runs in a fresh
// process (OpenBLAS's idle threads spin and would steal cores from the next measurement).
// Other load on the machine moves every figure, so the three alternate shape by shape for
// several rounds (AMAE_BENCH_ROUNDS, default 3) and the figures are medians over rounds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ops } from '../lib/index.js';
import { addon, runOp } from '../lib/native.js';
import { type Tensor, zeros } from '../lib/tensor.js';
import { type Emit, timeit } from './util.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

const rounds = Number(process.env.AMAE_BENCH_ROUNDS ?? 3);
const minSeconds = 0.3;
const threads = addon.build.threads;

interface Case {
  name: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  beta: number;
  run: () => Promise<unknown>;
}

function randomTensor(shape: number[]): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random() - 0.5;
  return { data, shape };
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const T of [195, 648]) {
    for (const [inF, outF] of [
      [768, 2304],
      [768, 768],
      [768, 3072],
      [3072, 768],
    ]) {
      const x = randomTensor([T, inF]);
      const w = randomTensor([outF, inF]);
      const dy = randomTensor([T, outF]);
      // Outputs reused across calls, as a training loop reuses its buffers: a fresh multi-MB
      // output per call would time page faults, not the GEMM.
      const yOut = zeros([T, outF]);
      const xOut = zeros([T, inF]);
      const wOut = zeros([outF, inF]);
      const layer = `T=${T} ${inF}→${outF}`;
      out.push(
        { name: `forward ${layer}`, transA: false, transB: true, M: T, N: outF, K: inF, beta: 0, run: () => runOp('linear_forward', { x, w }, {}, { y: yOut }) },
        {
          name: `dx ${layer}`,
          transA: false,
          transB: false,
          M: T,
          N: inF,
          K: outF,
          beta: 1,
          run: () => runOp('linear_backward', { x, w, dy }, { dw: false, db: false }, { dx: xOut }),
        },
        {
          name: `dw ${layer}`,
          transA: true,
          transB: false,
          M: outF,
          N: inF,
          K: T,
          beta: 1,
          run: () => runOp('linear_backward', { x, w, dy }, { dx: false, db: false }, { dw: wOut }),
        },
      );
    }
  }
  return out;
}

interface Timer {
  bin?: string;
  reason?: string;
}

/** Compiles one of the timing programs; returns the binary, or why there is none. */
function build(dir: string, name: string, compiler: string, args: string[], needs: string): Timer {
  const bin = path.join(dir, name);
  const r = spawnSync(compiler, ['-o', bin, ...args], { encoding: 'utf8', cwd: root });
  if (r.error) return { reason: `cannot run ${compiler}: ${r.error.message}` };
  if (r.status !== 0) return { reason: `cannot build ${name} (${needs}): ${r.stderr.trim()}` };
  return { bin };
}

/** Median seconds per call that a timing program reports for one case. */
function childSeconds(bin: string, c: Case): number {
  const args = [c.transA, c.transB, c.M, c.N, c.K, c.beta, minSeconds].map((v) => String(Number(v)));
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), AMAE_NUM_THREADS: String(threads) };
  const r = spawnSync(bin, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { seconds: number }).seconds;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const geomean = (v: number[]) => Math.exp(v.reduce((s, r) => s + Math.log(r), 0) / v.length);

export default async function gemm(emit: Emit): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-bench-'));
  // The addon's compile flags (CMakeLists.txt), so the kernel timed here is the one the ops run.
  const native = build(
    dir,
    'amae_gemm',
    'c++',
    ['-O3', '-march=x86-64-v3', '-std=c++17', 'bench/amae_gemm.cpp', 'native/cpu/gemm.cpp', 'native/core/threads.cpp', '-lpthread'],
    'a C++17 compiler',
  );
  const blas = build(dir, 'openblas_gemm', 'cc', ['-O2', 'bench/openblas_gemm.c', '-lopenblas'], 'libopenblas and cblas.h');
  if (!native.bin) emit({ timer: 'amae_gemm', skipped: native.reason });
  if (!blas.bin) emit({ anchor: 'openblas', skipped: blas.reason });

  const all = cases();
  const runs = all.map(() => ({ op: [] as number[], gemm: [] as number[], blas: [] as number[], calls: 0, faults: 0 }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of all.entries()) {
      const faults = process.resourceUsage().minorPageFault;
      runs[i].op.push(await timeit(() => (runs[i].calls++, c.run()), { minSeconds }));
      runs[i].faults += process.resourceUsage().minorPageFault - faults;
      if (native.bin) runs[i].gemm.push(childSeconds(native.bin, c));
      if (blas.bin) runs[i].blas.push(childSeconds(blas.bin, c));
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const ratios = { op: [] as number[], gemm: [] as number[] };
  for (const [i, c] of all.entries()) {
    const gflops = (seconds: number[]) => (2 * c.M * c.N * c.K) / median(seconds) / 1e9;
    const record: Record<string, unknown> = { shape: c.name, M: c.M, N: c.N, K: c.K, threads };
    const op = gflops(runs[i].op);
    const gemm = native.bin ? gflops(runs[i].gemm) : undefined;
    record.amae_op_gflops = +op.toFixed(1);
    record.op_page_faults_per_call = Math.round(runs[i].faults / runs[i].calls);
    if (gemm !== undefined) record.amae_gemm_gflops = +gemm.toFixed(1);
    if (blas.bin) {
      const ob = gflops(runs[i].blas);
      record.openblas_gflops = +ob.toFixed(1);
      record.ratio_op = +(op / ob).toFixed(3);
      ratios.op.push(op / ob);
      if (gemm !== undefined) {
        record.ratio_gemm = +(gemm / ob).toFixed(3);
        ratios.gemm.push(gemm / ob);
      }
    }
    emit(record);
  }
  for (const [what, v] of Object.entries(ratios))
    if (v.length)
      emit({
        summary: `amae_${what} / openblas`,
        threads,
        rounds,
        geomean_ratio: +geomean(v).toFixed(3),
        min_ratio: +Math.min(...v).toFixed(3),
      });
}
