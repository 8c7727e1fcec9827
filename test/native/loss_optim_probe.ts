// Fixed-seed runs of the loss and optimiser ops, hashed output by output. Run as a script it
// prints the hashes as JSON, so a test can compare a process with another thread count.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { indices, ops, type Tensor } from '../../lib/index.js';
import { randn, randu } from '../helpers/random.js';

const hash = (a: Float32Array | number) => {
  const f = typeof a === 'number' ? Float32Array.of(a) : a;
  return createHash('sha256').update(Buffer.from(f.buffer, f.byteOffset, f.byteLength)).digest('hex');
};

export async function probeHashes(): Promise<Record<string, string>> {
  // Sizes large enough that every op splits its work into several tasks.
  const x = randn([2, 2, 30011], 1, 2);
  const g = randu([2, 2, 30011], 2, 0, 1);
  const p = randn([301, 211], 3);
  const tg = randn([301, 211], 4);
  const mask = indices(Array.from({ length: 301 }, (_, i) => (i % 3 ? 1 : 0)));
  const param = randn([50021], 5);
  const z = (): Tensor => ({ data: new Float32Array(param.data.length), shape: param.shape });
  const s = { param, grad: randn([50021], 6), m: z(), v: z() };
  await ops.adamwStep(s, { lr: 1e-2, beta1: 0.9, beta2: 0.95, weightDecay: 0.05 }, 1);
  await ops.adamwStep(s, { lr: 1e-2, beta1: 0.9, beta2: 0.95, weightDecay: 0.05 }, 2);
  const grads = [randn([70001], 7), randn([33], 8)];
  const norm = await ops.clipGradNorm(grads, 1);
  return {
    dice: hash(await ops.diceLossForward(x, g)),
    dlogits: hash((await ops.diceLossBackward(x, g)).data),
    mse: hash(await ops.maskedMseForward(p, tg, mask, { normPix: true })),
    dpred: hash((await ops.maskedMseBackward(p, tg, mask, 1, { normPix: true })).data),
    adamw: hash(s.param.data) + hash(s.m.data) + hash(s.v.data),
    clip: hash(norm) + hash(grads[0].data),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(JSON.stringify(await probeHashes()));
}
