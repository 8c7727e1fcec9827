// Seeded forward+backward runs whose output digests the op tests compare across thread counts
// (see callWithThreads). Big enough that every parallel split has several tasks.
import { ops } from '../../lib/index.js';
import { indices } from '../../lib/tensor.js';
import { randn } from '../helpers/random.js';
import { digest } from '../helpers/threads.js';

export async function layerNormDigest(): Promise<string> {
  const [T, C] = [301, 96];
  const x = randn([T, C], 41, 2);
  const w = randn([C], 42);
  const b = randn([C], 43);
  const f = await ops.layerNormForward(x, w, b);
  const g = await ops.layerNormBackward(x, w, f.mean, f.rstd, randn([T, C], 44));
  return digest([f.y, f.mean, f.rstd, g.dx, g.dw, g.db]);
}

export async function attentionDigest(): Promise<string> {
  const offsets = indices([0, 150, 360, 360, 450, 650]);
  const [T, E, heads] = [650, 96, 4];
  const qkv = randn([T, 3 * E], 51);
  const f = await ops.attentionForward(qkv, offsets, heads);
  const dqkv = await ops.attentionBackward(qkv, offsets, f.out, f.lse, randn([T, E], 52), heads);
  return digest([f.out, f.lse, dqkv]);
}
