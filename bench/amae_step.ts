// One preset's AMAE training step, timed in a process of its own so that its peak RSS is its
// own (the anchor, bench/torch_amae.py, is measured the same way). Prints one JSON line.
// Usage: node --import=tsx bench/amae_step.ts PRESET BATCH CONTRASTS
//
// AMAE_BENCH_DEVICE=cuda times the model on the GPU instead, with math AMAE_BENCH_MATH (bf16, the
// training default, or f32): AMAE_BENCH_WARMUP steps (3) untimed, then the median of
// AMAE_BENCH_STEPS (20) steps, each timed alone (trainStep resolves after the step's loss is back
// on the host, so the GPU's work is inside the time). Batches are packed before the timing, two
// of them used in turn: the GPU figure is the step's, not the host's packing. gpu_mem_mb is what
// CUDA reports: the drop in the device's free memory (cudaMemGetInfo) from before the model was
// made to its lowest point, read after each step. It counts everything the process holds on the
// device then (weights, gradients, moments, the batch, saved activations, scratch) but not the
// CUDA context made before; it equals the peak only where the model keeps its buffers between
// steps (nothing freed before the reading), and it counts any other process on the same GPU.
import { type CudaMath, cudaInfo, setCudaMath } from '../lib/device.js';
import { addon } from '../lib/native.js';
import { type AmaePreset, createAmae } from '../lib/models/amae.js';
import { Random } from '../lib/util/random.js';
import { timeit } from './util.js';

const [preset, batch, contrasts] = [process.argv[2] as AmaePreset, Number(process.argv[3]), Number(process.argv[4])];
const device = process.env.AMAE_BENCH_DEVICE ?? 'cpu';

function subjectsOf(size: readonly number[], random: Random) {
  const [h, w, d] = size;
  const volume = () => {
    const data = new Float32Array(h * w * d);
    for (let i = 0; i < data.length; i++) data[i] = random.next() - 0.5;
    return data;
  };
  return Array.from({ length: batch }, () => ({ contrasts: Array.from({ length: contrasts }, (_, id) => ({ id, data: volume() })) }));
}

if (device === 'cpu') {
  const model = createAmae(preset, { seed: 0 });
  const random = new Random(1);
  const subjects = subjectsOf(model.config.size, random);
  const step = await timeit(() => model.trainStep(model.pack(subjects, { random }), { lr: 1e-4 }), {
    minSeconds: preset === 'paper' ? 0 : 3,
  });
  console.log(JSON.stringify({ step_ms: step * 1e3, threads: addon.build.threads, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
} else if (device === 'cuda') {
  const info = cudaInfo();
  if (!info.available) throw new Error(`AMAE_BENCH_DEVICE=cuda: CUDA unavailable: ${info.reason}`);
  const math = (process.env.AMAE_BENCH_MATH ?? 'bf16') as CudaMath;
  setCudaMath(math);
  const warmup = Number(process.env.AMAE_BENCH_WARMUP ?? 3);
  const steps = Number(process.env.AMAE_BENCH_STEPS ?? 20);
  const free0 = info.freeMemory;
  const model = createAmae(preset, { seed: 0, device: 'cuda' });
  const random = new Random(1);
  const batches = [0, 1].map(() => model.pack(subjectsOf(model.config.size, random), { random }));
  let minFree = free0;
  const times: number[] = [];
  let loss = NaN;
  const t0 = performance.now();
  let firstMs = 0;
  for (let i = 0; i < warmup + steps; i++) {
    const t = performance.now();
    loss = (await model.trainStep(batches[i % 2], { lr: 1e-4 })).loss;
    const ms = performance.now() - t;
    if (i === 0) firstMs = performance.now() - t0;
    if (i >= warmup) times.push(ms);
    minFree = Math.min(minFree, cudaInfo().freeMemory);
  }
  times.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      device: 'cuda',
      gpu: info.name,
      gemm: info.cublas ? 'cublas' : 'own',
      math,
      steps,
      first_step_ms: firstMs,
      step_ms: times[Math.floor(times.length / 2)],
      step_ms_min: times[0],
      gpu_mem_mb: (free0 - minFree) / 2 ** 20,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      loss,
    }),
  );
} else {
  throw new Error(`AMAE_BENCH_DEVICE must be cpu or cuda, got '${device}'`);
}
