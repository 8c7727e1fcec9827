// Seeded forward+backward runs of every op family, hashed output by output. thread-count.test.ts
// compares them between this process and children with other AMAE_NUM_THREADS: the ops promise
// bit-identical results whatever the thread count (native/README.md). Sizes are large enough
// that every parallel split has several tasks.
import { ops } from '../../lib/index.js';
import { type Tensor, indices } from '../../lib/tensor.js';
import { randn, randu, rng } from '../helpers/random.js';
import { digest } from '../helpers/threads.js';

type Fixture = () => Promise<string>;

async function layerNorm(): Promise<string> {
  const [T, C] = [301, 96];
  const x = randn([T, C], 41, 2);
  const f = await ops.layerNormForward(x, randn([C], 42), randn([C], 43));
  const g = await ops.layerNormBackward(x, randn([C], 42), f.mean, f.rstd, randn([T, C], 44));
  return digest([f.y, f.mean, f.rstd, g.dx, g.dw, g.db]);
}

async function attention(): Promise<string> {
  const offsets = indices([0, 150, 360, 360, 450, 650]);
  const [T, E, heads] = [650, 96, 4];
  const qkv = randn([T, 3 * E], 51);
  const f = await ops.attentionForward(qkv, offsets, heads);
  const dqkv = await ops.attentionBackward(qkv, offsets, f.out, f.lse, randn([T, E], 52), heads);
  return digest([f.out, f.lse, dqkv]);
}

async function normPoolSequence(): Promise<string> {
  const x = randn([2, 3, 33, 31, 29], 1, 2);
  const norm = await ops.instanceNormForward(x);
  const dnorm = await ops.instanceNormBackward(x, norm.mean, norm.rstd, randn(x.shape, 2));
  const pool = await ops.maxPool3dForward(x);
  const dpool = await ops.maxPool3dBackward(pool.argmax, randn(pool.y.shape, 3), [33, 31, 29]);
  const v = randn([11, 3, 997], 4);
  const gm = await ops.groupMaxForward(v, indices([0, 1, 8, 11]));
  const dgm = await ops.groupMaxBackward(gm.argmax, randn(gm.y.shape, 5), 11);
  const cat = await ops.concatForward(x, randn([2, 2, 33, 31, 29], 6));
  const dcat = await ops.concatBackward(randn(cat.shape, 7), 3);
  const r = rng(8);
  const [T, E, P, K] = [4001, 200, 343, 9];
  const pi = indices(Int32Array.from({ length: T }, () => Math.floor(r() * P)));
  const mi = indices(Int32Array.from({ length: T }, () => Math.floor(r() * K)));
  const tokens = randn([T, E], 9);
  const emb = await ops.embedAddForward(tokens, randn([P, E], 10), randn([K, E], 11), pi, mi);
  const de = await ops.embedAddBackward(pi, mi, randn([T, E], 12), { numPos: P, numMod: K });
  const gathered = await ops.gatherRowsForward(tokens, pi);
  const dgather = await ops.gatherRowsBackward(pi, randn([T, E], 13), T);
  const asFloat = (t: { data: Int32Array; shape: number[] }): Tensor => ({
    data: new Float32Array(t.data.buffer, t.data.byteOffset, t.data.length),
    shape: t.shape,
  });
  return digest([norm.y, norm.mean, norm.rstd, dnorm, pool.y, asFloat(pool.argmax), dpool, gm.y, asFloat(gm.argmax), dgm,
    cat, dcat.da!, dcat.db!, emb, de.dx!, de.dpos!, de.dmod!, gathered, dgather]);
}

async function lossOptim(): Promise<string> {
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
  const scalars = Float32Array.of(await ops.diceLossForward(x, g), await ops.maskedMseForward(p, tg, mask, { normPix: true }), norm);
  return digest([{ data: scalars, shape: [3] }, await ops.diceLossBackward(x, g),
    await ops.maskedMseBackward(p, tg, mask, 1, { normPix: true }), s.param, s.m, s.v, grads[0]]);
}

async function conv(): Promise<string> {
  const x = randn([2, 8, 8, 12, 40], 60);
  const w = randn([4, 8, 3, 3, 3], 61);
  const b = randn([4], 66);
  const g = await ops.conv3dBackward(x, w, randn([2, 4, 8, 12, 40], 62));
  const xt = randn([2, 8, 12, 12, 40], 63);
  const wt = randn([8, 4, 2, 2, 2], 64);
  const h = await ops.convTranspose3dBackward(xt, wt, randn([2, 4, 24, 24, 80], 65));
  const xp = randn([3, 2, 32, 16, 16], 67);
  const wp = { w: randn([24, 2, 8, 8, 8], 68), b: randn([24], 69), sw: randn([3, 24], 70), sb: randn([3, 24], 71) };
  const pe = await ops.patchEmbedForward(xp, wp, 8);
  const dpe = await ops.patchEmbedBackward(xp, wp, randn(pe.shape, 72), 8);
  const rows = await ops.patchifyForward(xp, 8);
  const flat = { data: rows.data, shape: [rows.shape[0] * rows.shape[1], rows.shape[2]] };
  const segs = indices([0, 5, 5, 48]);
  const rp = { w: wp.w, b: wp.b, sw: randn([3, 24], 74), sb: randn([3, 24], 75) };
  const re = await ops.patchEmbedRowsForward(flat, segs, rp);
  const dre = await ops.patchEmbedRowsBackward(flat, segs, rp, re.z, randn(re.y.shape, 76));
  const present = (o: object) => Object.values(o).filter((v): v is Tensor => v !== undefined);
  return digest([await ops.conv3dForward(x, w, b), g.dx!, g.dw!, g.db!, await ops.convTranspose3dForward(xt, wt, randn([4], 73)),
    h.dx!, h.dw!, h.db!, pe, ...present(dpe), re.y, re.z, ...present(dre), await ops.patchifyBackward(rows, 8, [32, 16, 16])]);
}

export const fixtures: Record<string, Fixture> = { layerNorm, attention, normPoolSequence, lossOptim, conv };

export async function allDigests(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, f] of Object.entries(fixtures)) out[name] = await f();
  return out;
}
