// A digest of the outputs of the norm, pool and sequence ops on inputs large enough to be split
// into many parallel tasks. Run as a script it prints the digest, so a test can compare processes
// started with different AMAE_NUM_THREADS: deterministic ops must agree bit for bit.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ops } from '../../lib/index.js';
import { indices } from '../../lib/tensor.js';
import { randn, rng } from './random.js';

export async function opDigest(): Promise<string> {
  const h = createHash('sha256');
  const add = (...ts: { data: Float32Array | Int32Array }[]) => {
    for (const t of ts) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  };
  const x = randn([2, 3, 33, 31, 29], 1, 2);
  const norm = await ops.instanceNormForward(x);
  add(norm.y, norm.mean, norm.rstd, await ops.instanceNormBackward(x, norm.mean, norm.rstd, randn(x.shape, 2)));

  const pool = await ops.maxPool3dForward(x);
  add(pool.y, pool.argmax, await ops.maxPool3dBackward(pool.argmax, randn(pool.y.shape, 3), [33, 31, 29]));

  const offsets = indices([0, 1, 8, 11]);
  const v = randn([11, 3, 997], 4);
  const gm = await ops.groupMaxForward(v, offsets);
  add(gm.y, gm.argmax, await ops.groupMaxBackward(gm.argmax, randn(gm.y.shape, 5), 11));

  const cat = await ops.concatForward(x, randn([2, 2, 33, 31, 29], 6));
  const dcat = await ops.concatBackward(randn(cat.shape, 7), 3);
  add(cat, dcat.a!, dcat.b!);

  const r = rng(8);
  const [T, E, P, K] = [4001, 200, 343, 9];
  const pi = indices(Int32Array.from({ length: T }, () => Math.floor(r() * P)));
  const mi = indices(Int32Array.from({ length: T }, () => Math.floor(r() * K)));
  const tokens = randn([T, E], 9);
  add(await ops.embedAddForward(tokens, randn([P, E], 10), randn([K, E], 11), pi, mi));
  const de = await ops.embedAddBackward(pi, mi, randn([T, E], 12), { numPos: P, numMod: K });
  add(de.x!, de.pos!, de.mod!);
  add(await ops.gatherRowsForward(tokens, pi), await ops.gatherRowsBackward(pi, randn([T, E], 13), T));
  return h.digest('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await opDigest());
