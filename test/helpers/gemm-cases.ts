// Fixed contractions whose outputs must be bit-identical whatever the thread count or GEMM kernel.
// The determinism test runs them in this process and, as a script, in child processes started with
// AMAE_NUM_THREADS=1 and AMAE_GEMM_ISA=avx2; the script prints one SHA-256 per output.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ops } from '../../lib/index.js';
import { randn } from './random.js';

export async function gemmCases(): Promise<{ name: string; data: Float32Array }[]> {
  const out: { name: string; data: Float32Array }[] = [];
  const add = (name: string, data: Float32Array | undefined) => out.push({ name, data: data ?? new Float32Array() });
  // Large enough to be split across threads and to span several K blocks.
  add('matmul 300×1100×513', (await ops.matmulForward(randn([1, 300, 1100], 1), randn([1, 1100, 513], 2))).data);
  add(
    'matmul transA transB 195×1100×97',
    (await ops.matmulForward(randn([1, 1100, 195], 3), randn([1, 97, 1100], 4), { transA: true, transB: true })).data,
  );
  // Many small batch entries: the batch is what gets split across threads.
  add('batched matmul 8×29×65×33', (await ops.matmulForward(randn([8, 29, 65], 5), randn([8, 65, 33], 6))).data);
  const x = randn([195, 769], 7);
  const w = randn([97, 769], 8);
  add('linear forward with bias', (await ops.linearForward(x, w, randn([97], 9))).data);
  const g = await ops.linearBackward(x, w, randn([195, 97], 10));
  add('linear dx', g.dx.data);
  add('linear dw', g.dw.data);
  add('linear db', g.db.data);
  return out;
}

export function digest(data: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { name, data } of await gemmCases()) console.log(JSON.stringify({ name, sha256: digest(data) }));
}
