// The AMAE model through its TypeScript handle: parameters and initialisation, batches mixing
// subjects of 1, 3 and 7 contrasts, masking, reproducibility, learning, checkpoints, typed
// errors, and the binding's promises (event loop free, calls serialised).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon } from '../../lib/native.js';
import { AMAE_PRESETS, Amae, createAmae } from '../../lib/models/amae.js';
import { packBatch } from '../../lib/models/batch.js';
import { keepCount, randomKeep } from '../../lib/models/masking.js';
import { CheckpointError, readSafetensors, writeSafetensors } from '../../lib/models/safetensors.js';
import { Random } from '../../lib/util/random.js';
import { fileURLToPath } from 'node:url';
import { callWithThreads } from '../helpers/threads.js';
import { blobSubject, trainingDigest } from './fixtures.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'amae-model-'));
const tiny = AMAE_PRESETS.tiny;
const P = 8; // tiny: 32³ in 16³ patches

// Two subjects of the tiny preset: 2 and 3 contrasts.
function smallBatch(model: Amae, seed = 1) {
  return model.pack([blobSubject(32, [0, 1], seed), blobSubject(32, [2, 5, 6], seed + 1)], { random: new Random(seed) });
}

test('parameters carry the checkpoint names and shapes of spec §6, with decay and trainable flags', (t) => {
  const model = createAmae('tiny');
  const params = model.parameters();
  const byName = new Map(params.map((p) => [p.name, p]));
  const E = 48;
  const expect: [string, number[], boolean, boolean][] = [
    ['vit.tokenizer.weight', [E, 1, 16, 16, 16], true, true],
    ['vit.tokenizer.bias', [E], false, true],
    ['vit.tokenizer.projector.weight', [2 * E, 9], true, true],
    ['vit.tokenizer.projector.bias', [2 * E], false, true],
    ['vit.modality_embedding', [9, E], false, true],
    ['vit.position_embedding', [1, P, E], false, false],
    ['vit.blocks.2.norm1.weight', [E], false, true],
    ['vit.blocks.2.attn.qkv.weight', [3 * E, E], true, true],
    ['vit.blocks.0.attn.out_proj.bias', [E], false, true],
    ['vit.blocks.1.mlp.linear1.weight', [4 * E, E], true, true],
    ['vit.blocks.1.mlp.linear2.weight', [E, 4 * E], true, true],
    ['vit.norm.bias', [E], false, true],
    ['decoder.embed.weight', [48, E], true, true],
    ['decoder.mask_token', [1, 1, 48], false, true],
    ['decoder.modality_embedding', [9, 48], false, true],
    ['decoder.position_embedding', [1, P, 48], false, false],
    ['decoder.blocks.0.norm2.weight', [48], false, true],
    ['decoder.norm.weight', [48], false, true],
    ['decoder.pred.weight', [4096, 48], true, true],
    ['decoder.pred.bias', [4096], false, true],
  ];
  for (const [name, shape, decay, trainable] of expect) t.deepEqual(byName.get(name), { name, shape, decay, trainable }, name);
  // 5 tokenizer/embedding tensors + 3 blocks·11 + norm 2 + decoder (embed 2, mask, 2 tables) + 11 + 2 + pred 2.
  t.is(params.length, 6 + 33 + 2 + 5 + 11 + 2 + 2);
  t.false(byName.has('vit.blocks.0.attn.qkv.bias'), 'qkv has no bias');
  const learned = createAmae({ ...tiny, code: 'learned', posEmbed: 'learnable' }).parameters();
  const ln = new Map(learned.map((p) => [p.name, p]));
  t.deepEqual(ln.get('vit.tokenizer.code_table')!.shape, [9, 64]);
  t.deepEqual(ln.get('vit.tokenizer.projector.weight')!.shape, [96, 64]);
  t.true(ln.get('vit.position_embedding')!.trainable);
  t.false(ln.get('decoder.position_embedding')!.trainable, 'the learnable option is the encoder’s only');
});

test('initialisation follows spec §2.1/§2.7 and depends only on the seed', async (t) => {
  const w = await createAmae('tiny', { seed: 4 }).weights();
  const range = (x: Float32Array) => [x.reduce((a, b) => Math.min(a, b)), x.reduce((a, b) => Math.max(a, b))];
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const xavier = (fanIn: number, fanOut: number) => Math.sqrt(6 / (fanIn + fanOut));
  const [lo, hi] = range(w['vit.tokenizer.weight'].data);
  t.true(lo >= -xavier(4096, 48) && hi <= xavier(4096, 48) && hi > 0.9 * xavier(4096, 48), 'DCT weight: Xavier on [E, p³]');
  const [blo, bhi] = range(w['vit.tokenizer.bias'].data);
  t.true(blo >= -1 / 64 && bhi <= 1 / 64 && bhi - blo > 0.01, 'DCT bias: U(±1/√p³)');
  t.true(w['vit.tokenizer.projector.bias'].data.every((v) => v === 1), 'projector bias 1, so every scale starts near 1');
  t.true(Math.abs(std(w['vit.tokenizer.projector.weight'].data) - 0.02) < 0.004);
  t.true(Math.abs(std(w['decoder.mask_token'].data) - 0.02) < 0.008);
  t.true(Math.abs(std(w['vit.modality_embedding'].data) - 0.02) < 0.004);
  t.true(range(w['vit.modality_embedding'].data.map(Math.abs))[1] <= 0.04, 'trunc-normal: within 2σ');
  t.true(w['vit.blocks.1.norm1.weight'].data.every((v) => v === 1) && w['vit.blocks.1.norm1.bias'].data.every((v) => v === 0));
  t.true(w['decoder.pred.bias'].data.every((v) => v === 0) && w['vit.blocks.0.mlp.linear1.bias'].data.every((v) => v === 0));
  const [qlo, qhi] = range(w['vit.blocks.0.attn.qkv.weight'].data);
  t.true(qlo >= -xavier(48, 144) && qhi <= xavier(48, 144) && qhi > 0.9 * xavier(48, 144));
  t.deepEqual(await createAmae('tiny', { seed: 4 }).weights(), w, 'same seed, same weights');
  const other = await createAmae('tiny', { seed: 5 }).weights();
  t.notDeepEqual(other['vit.tokenizer.weight'].data, w['vit.tokenizer.weight'].data);
});

// MONAI's build_sincos_position_embedding for a 3-D grid, in float64 (spec §2.2).
function sincos(grid: number[], dim: number): Float64Array {
  const posDim = dim / 6;
  const out = new Float64Array(grid[0] * grid[1] * grid[2] * dim);
  let q = 0;
  for (let h = 0; h < grid[0]; h++)
    for (let w = 0; w < grid[1]; w++)
      for (let d = 0; d < grid[2]; d++, q++) {
        const parts = [w, h, d].flatMap((c) => {
          const angles = Array.from({ length: posDim }, (_, i) => c / 10000 ** (i / posDim));
          return [angles.map(Math.sin), angles.map(Math.cos)];
        });
        out.set(parts.flat(), q * dim);
      }
  return out;
}

test('the fixed position tables are the 3-D sin-cos embedding of spec §2.2', async (t) => {
  const model = createAmae({ ...tiny, size: [32, 48, 64], embedDim: 24, heads: 2, decoderDim: 12, decoderHeads: 2 });
  const w = await model.weights();
  const grid = [2, 3, 4];
  for (const [name, dim] of [['vit.position_embedding', 24], ['decoder.position_embedding', 12]] as const) {
    const got = w[name];
    t.deepEqual(got.shape, [1, 24, dim]);
    const want = sincos(grid, dim);
    const err = Math.max(...got.data.map((v, i) => Math.abs(v - want[i])));
    t.true(err < 1e-6, `${name}: max error ${err}`);
  }
  // Row q = (h·Gw + w)·Gd + d: patch (0, 1, 3) is row 7; its w-block starts at sin(1·ω₀) = sin 1.
  t.is(w['vit.position_embedding'].data[7 * 24], Math.fround(Math.sin(1)));
});

test('a batch mixing 1, 3 and 7 contrasts: packing, and independent masks of the stated size', async (t) => {
  const model = createAmae('tiny', { seed: 2 });
  const subjects = [blobSubject(32, [3], 1), blobSubject(32, [6, 0, 2], 2), blobSubject(32, [0, 1, 2, 3, 4, 5, 6], 3)];
  const batch = model.pack(subjects, { maskRatio: 0.7, random: new Random(8) });
  t.deepEqual(Array.from(batch.subjects), [0, 1, 4, 11]);
  t.deepEqual(Array.from(batch.contrasts), [3, 0, 2, 6, 0, 1, 2, 3, 4, 5, 6], 'each subject in registry order');
  t.deepEqual(batch.volumes.shape, [11, 32, 32, 32]);
  t.deepEqual(batch.volumes.data.subarray(32768, 2 * 32768), subjects[1].contrasts[1].data, 'volumes follow the sorted order');
  const n = keepCount(P, 0.7);
  t.is(n, 2); // max(1, floor(0.3·8 + 1e-6))
  const lists = Array.from({ length: 11 }, (_, c) => Array.from(batch.keep.subarray(batch.keepOffsets[c], batch.keepOffsets[c + 1])));
  for (const k of lists) {
    t.is(k.length, n);
    t.true(k.every((q, i) => q >= 0 && q < P && (i === 0 || q > k[i - 1])));
  }
  t.true(new Set(lists.map((k) => k.join())).size > 3, 'contrasts of one subject get their own masks');
  // The count rule at other ratios, r = 0 keeping everything.
  t.is(keepCount(216, 0.75), 54);
  t.is(keepCount(216, 0), 216);
  t.is(keepCount(8, 0.99), 1);
  t.is(keepCount(10, 0.7), 3, 'the 1e-6 guards floor((1 − 0.7)·10) against 2.9999…');
  // Uniform subsets: every patch is kept about equally often.
  const counts = new Array(P).fill(0);
  const r = new Random(3);
  for (let i = 0; i < 4000; i++) for (const q of randomKeep(P, 0.7, r)) counts[q]++;
  t.true(counts.every((c) => Math.abs(c - 1000) < 120), `keep frequencies ${counts}`);

  const first = await model.trainStep(batch, { lr: 1e-3 });
  t.true(Number.isFinite(first.loss) && first.loss > 0 && first.updated);
});

test('the same seed gives an identical loss sequence; r = 0 gives loss 0 without NaN', async (t) => {
  const run = async () => {
    const model = createAmae('tiny', { seed: 7 });
    const random = new Random(11);
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const batch = model.pack([blobSubject(32, [0, 1, 2], i), blobSubject(32, [4], 10 + i)], { random });
      losses.push((await model.trainStep(batch, { lr: 1e-3, maxGradNorm: 1 })).loss);
    }
    return losses;
  };
  const a = await run();
  t.deepEqual(await run(), a);
  t.true(new Set(a).size === 4, 'the steps change the model');

  const model = createAmae('tiny', { seed: 7 });
  const all = model.pack([blobSubject(32, [0, 3], 1)], { maskRatio: 0 });
  t.is(all.keep.length, 2 * P);
  const step = await model.trainStep(all, { lr: 1e-3 });
  t.is(step.loss, 0);
  t.is(step.gradNorm, 0);
  const { loss, grads } = await model.lossAndGrads(all);
  t.is(loss, 0);
  t.true(Object.values(grads).every((g) => g.every((v) => v === 0)));
  const { pred } = await model.forward(all);
  t.true(pred.data.every(Number.isFinite));
});

test('training is bit-identical with 1, 3 or the default number of threads', async (t) => {
  const fixtures = fileURLToPath(new URL('./fixtures.ts', import.meta.url));
  const [here, one, three] = await Promise.all([
    trainingDigest(),
    callWithThreads(1, fixtures, 'trainingDigest'),
    callWithThreads(3, fixtures, 'trainingDigest'),
  ]);
  t.deepEqual(one, here);
  t.deepEqual(three, here);
});

test('pre-training on smooth blobs lowers a held-out loss by at least 30 % in 150 small steps', async (t) => {
  const model = createAmae('tiny', { seed: 3 });
  const train = Array.from({ length: 8 }, (_, i) => blobSubject(32, [[0, 1, 2], [0, 1], [2, 5, 6], [1]][i % 4], 100 + i));
  const held = model.pack([blobSubject(32, [0, 2, 6], 900), blobSubject(32, [1, 3], 901)], { random: new Random(77) });
  const before = (await model.forward(held)).loss;
  const random = new Random(9);
  for (let i = 0; i < 150; i++) {
    const batch = model.pack([train[(2 * i) % 8], train[(2 * i + 1) % 8]], { random });
    await model.trainStep(batch, { lr: 1e-3 });
  }
  const after = (await model.forward(held)).loss;
  t.log(`held-out loss ${before.toFixed(4)} → ${after.toFixed(4)}`);
  t.true(after <= 0.7 * before);
});

test('save → load gives bit-identical outputs; the optimizer state resumes training exactly', async (t) => {
  const dir = tmp();
  const model = createAmae({ ...tiny, normPix: true, code: 'learned' }, { seed: 5 });
  await model.trainStep(smallBatch(model, 1), { lr: 1e-3 });
  await model.trainStep(smallBatch(model, 2), { lr: 1e-3 });
  await model.save(path.join(dir, 'w.safetensors'));
  await model.saveOptimizer(path.join(dir, 'w.optim.safetensors'));
  const { metadata, tensors } = await readSafetensors(path.join(dir, 'w.safetensors'));
  t.is(metadata.kind, 'amae');
  t.deepEqual(JSON.parse(metadata.contrasts), ['ADC', 'TRACE', 'T2', 'GRE', 'SWI', 'T1', 'FLAIR', 'T1CE', 'PD']);
  t.like(JSON.parse(metadata.config), { normPix: true, code: 'learned', posEmbed: 'sincos', size: [32, 32, 32] });
  t.deepEqual([...tensors.keys()], model.parameters().map((p) => p.name));

  const loaded = await Amae.load(path.join(dir, 'w.safetensors'));
  t.deepEqual(loaded.config, model.config);
  const batch = smallBatch(model, 3);
  t.deepEqual(await loaded.forward(batch), await model.forward(batch));

  await loaded.loadOptimizer(path.join(dir, 'w.optim.safetensors'));
  const next = smallBatch(model, 4);
  t.deepEqual(await loaded.trainStep(next, { lr: 1e-3 }), await model.trainStep(next, { lr: 1e-3 }));
  t.deepEqual(await loaded.weights(), await model.weights());
});

test('checkpoints with a missing, mis-shaped or foreign tensor, or another kind, are refused by name', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'w.safetensors');
  await createAmae('tiny').save(file);
  const { tensors, metadata } = await readSafetensors(file);
  const rewrite = async (name: string, edit: (m: typeof tensors, md: Record<string, string>) => void) => {
    const m = new Map(tensors);
    const md = { ...metadata };
    edit(m, md);
    const f = path.join(dir, name);
    await writeSafetensors(f, m, md);
    return f;
  };
  const missing = await rewrite('missing.st', (m) => m.delete('vit.blocks.1.attn.qkv.weight'));
  await t.throwsAsync(Amae.load(missing), { instanceOf: CheckpointError, message: /missing\.st: tensor vit\.blocks\.1\.attn\.qkv\.weight is missing/ });
  const shaped = await rewrite('shape.st', (m) => m.set('decoder.pred.bias', { data: new Float32Array(100), shape: [100] }));
  await t.throwsAsync(Amae.load(shaped), { instanceOf: CheckpointError, message: /tensor decoder\.pred\.bias has shape \[100\], expected \[4096\]/ });
  const extra = await rewrite('extra.st', (m) => m.set('vit.blocks.9.norm1.weight', { data: new Float32Array(48), shape: [48] }));
  await t.throwsAsync(Amae.load(extra), { instanceOf: CheckpointError, message: /unexpected tensor vit\.blocks\.9\.norm1\.weight/ });
  const kind = await rewrite('kind.st', (_, md) => (md.kind = 'unetr'));
  await t.throwsAsync(Amae.load(kind), { instanceOf: CheckpointError, message: /kind is "unetr", not 'amae'/ });
  const config = await rewrite('config.st', (_, md) => (md.config = JSON.stringify({ ...tiny, heads: 5 })));
  await t.throwsAsync(Amae.load(config), { instanceOf: CheckpointError, message: /metadata config: config\.embedDim = 48 is not divisible by config\.heads = 5/ });
  const model = createAmae('tiny');
  await t.throwsAsync(model.loadOptimizer(file), { instanceOf: CheckpointError, message: /not 'amae-optimizer'/ });
});

test('setWeights checks names and shapes, naming the tensor', async (t) => {
  const model = createAmae('tiny');
  await t.throwsAsync(model.setWeights({ 'vit.nope': { data: new Float32Array(1), shape: [1] } }), {
    instanceOf: RangeError,
    message: /state\.weights\.vit\.nope is not a parameter of this model/,
  });
  await t.throwsAsync(model.setWeights({ 'vit.norm.weight': { data: new Float32Array(4), shape: [4] } }), {
    instanceOf: RangeError,
    message: /state\.weights\.vit\.norm\.weight has shape \[4\], the model's is \[48\]/,
  });
  const native = new addon.Model('amae', tiny, 0);
  const { optimizer } = await native.getState({ weights: false, optimizer: true });
  delete optimizer!.m['decoder.pred.bias'];
  t.throws(() => native.setState({ optimizer: optimizer! }), { instanceOf: RangeError, message: /state\.optimizer\.m\.decoder\.pred\.bias is missing/ });
});

test('bad configurations and batches get typed errors naming the field', async (t) => {
  const bad: [object, ErrorConstructor, RegExp][] = [
    [{ ...tiny, size: [32, 32] }, TypeError, /config\.size must be \[H, W, D\]/],
    [{ ...tiny, size: [32, 32, 40] }, RangeError, /config\.size \[32, 32, 40\] is not divisible by config\.patch = 16/],
    [{ ...tiny, patch: 0 }, RangeError, /config\.patch must be a positive integer, got 0$/],
    [{ ...tiny, heads: 2.5 }, RangeError, /config\.heads must be a positive integer, got 2\.5$/],
    [{ ...tiny, depth: '3' }, TypeError, /config\.depth must be a number/],
    [{ ...tiny, heads: 5 }, RangeError, /config\.embedDim = 48 is not divisible by config\.heads = 5/],
    [{ ...tiny, decoderDim: 64, decoderHeads: 4 }, RangeError, /config\.decoderDim = 64 must be divisible by 6/],
    [{ ...tiny, embedDim: 40 }, RangeError, /config\.embedDim = 40 must be divisible by 6/],
    [{ ...tiny, code: 'hot' }, TypeError, /config\.code must be 'onehot' or 'learned'/],
    [{ ...tiny, posEmbed: 1 }, TypeError, /config\.posEmbed must be 'sincos' or 'learnable'/],
    [{ ...tiny, normPix: 'yes' }, TypeError, /config\.normPix must be a boolean/],
    [{ ...tiny, dropout: 0.1 }, TypeError, /config\.dropout is not a known field/],
  ];
  for (const [config, type, message] of bad) t.throws(() => createAmae(config as never), { instanceOf: type, message });
  t.throws(() => createAmae('huge' as never), { instanceOf: RangeError, message: /unknown AMAE preset 'huge'/ });
  t.throws(() => createAmae('toString' as never), { instanceOf: RangeError, message: /unknown AMAE preset/ });
  t.notThrows(() => createAmae({ ...tiny, embedDim: 40, heads: 4, posEmbed: 'learnable' }), 'learnable positions lift the 6 | E rule');
  t.throws(() => new addon.Model('amae', tiny, -1), { instanceOf: RangeError, message: /seed must be a non-negative safe integer/ });

  const model = createAmae('tiny');
  const good = smallBatch(model);
  const edit = (patch: object) => ({ ...good, ...patch });
  const cases: [object, ErrorConstructor, RegExp][] = [
    [edit({ keep: Int32Array.from(good.keep).fill(300, 3, 4) }), RangeError, /batch\.keep\[3\] = 300 is out of range \[0, 8\)/],
    [edit({ keep: Array.from(good.keep) }), TypeError, /batch\.keep must be an Int32Array/],
    [edit({ contrasts: Int32Array.from([0, 1, 2, 9, 6]) }), RangeError, /batch\.contrasts\[3\] = 9 is out of range \[0, 9\)/],
    [edit({ contrasts: Int32Array.from([0, 1, 5, 2, 6]) }), RangeError, /batch\.contrasts\[3\] = 2 must be greater than batch\.contrasts\[2\] = 5/],
    [edit({ subjects: Int32Array.from([0, 2, 4]) }), RangeError, /batch\.subjects\[2\] = 4 must be 5 \(the number of volumes\)/],
    [edit({ subjects: Int32Array.from([0, 0, 5]) }), RangeError, /batch\.subjects\[1\] = 0 must be greater than batch\.subjects\[0\] = 0/],
    [edit({ keepOffsets: Int32Array.from([0, 2, 2, 6, 8, 10]) }), RangeError, /batch\.keepOffsets\[2\] = 2 must be greater than batch\.keepOffsets\[1\] = 2/],
    [edit({ keep: Int32Array.from(good.keep).fill(good.keep[0], 1, 2) }), RangeError, /batch\.keep\[1\] = \d must be greater than batch\.keep\[0\]/],
    [edit({ volumes: { data: new Float32Array(5 * 16 ** 3), shape: [5, 16, 16, 16] } }), RangeError, /batch\.volumes\.shape \[5,16,16,16\] must be \[5,32,32,32\]/],
    [edit({ volumes: good.volumes.data }), TypeError, /batch\.volumes must be a tensor/],
    [edit({ extra: 1 }), TypeError, /batch\.extra is not a known field/],
  ];
  for (const [batch, type, message] of cases) {
    await t.throwsAsync(model.trainStep(batch as never, { lr: 1e-3 }), { instanceOf: type, message });
    t.throws(() => addon.Model.prototype.forward.call(new addon.Model('amae', tiny, 0), batch as never), { instanceOf: type, message });
  }
  await t.throwsAsync(model.trainStep(good, { lr: '1' } as never), { instanceOf: TypeError, message: /opt\.lr must be a number/ });
  await t.throwsAsync(model.trainStep(good, { lr: 1e-3, beta2: 1 }), { instanceOf: RangeError, message: /opt\.beta2 must lie in \[0, 1\)/ });
  await t.throwsAsync(model.trainStep(null as never, { lr: 1e-3 }), { instanceOf: TypeError, message: /batch must be an object/ });
  const nan = { ...good, volumes: { data: Float32Array.from(good.volumes.data), shape: good.volumes.shape } };
  nan.volumes.data[3 * 32768 + 17] = NaN;
  await t.throwsAsync(model.trainStep(nan, { lr: 1e-3 }), { instanceOf: Error, message: /batch\.volumes holds NaN in volume 3 at voxel \[0, 0, 17\]/ });
  t.throws(() => packBatch([{ contrasts: [{ id: 2, data: new Float32Array(10) }] }], { size: [32, 32, 32], patch: 16 }), {
    instanceOf: RangeError,
    message: /subjects\[0\]\.contrasts\[0\]\.data has 10 voxels/,
  });
  t.throws(() => model.pack([blobSubject(32, [1, 1], 0)]), { instanceOf: RangeError, message: /subjects\[0\]\.contrasts\[1\]\.id = 1 appears twice/ });
  t.throws(() => model.pack([blobSubject(32, [1], 0)], { keep: [[[3, 2]]] }), { instanceOf: RangeError, message: /keep\[0\]\[0\]\[1\] = 2 must be greater than/ });
  // After all of these the model still trains.
  t.true((await model.trainStep(good, { lr: 1e-3 })).updated);
});

test.serial('a training step leaves the event loop free: a timer fires while it runs', async (t) => {
  const model = createAmae('demo');
  const batch = model.pack([blobSubject(64, [0, 1, 2], 1), blobSubject(64, [3, 4], 2)]);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = performance.now();
  await model.trainStep(batch, { lr: 1e-4 });
  const elapsed = performance.now() - started;
  clearInterval(timer);
  t.log(`demo step (2 subjects, 5 contrasts) took ${elapsed.toFixed(1)} ms; the 1 ms timer fired ${ticks} times`);
  t.true(elapsed > 10);
  t.true(ticks > 0);
});

test('calls on one model are serialised in call order', async (t) => {
  const batches = [1, 2, 3].map((s) => smallBatch(createAmae('tiny'), s));
  const sequential = createAmae('tiny', { seed: 9 });
  const expected = [];
  for (const b of batches) expected.push(await sequential.trainStep(b, { lr: 1e-3 }));
  const expectedWeights = await sequential.weights();

  const model = createAmae('tiny', { seed: 9 });
  const before = model.weights(); // queued first: sees the initial weights
  const steps = batches.map((b) => model.trainStep(b, { lr: 1e-3 }));
  const after = model.weights(); // queued after the steps
  t.deepEqual(await Promise.all(steps), expected);
  t.deepEqual(await after, expectedWeights);
  t.deepEqual(await before, await createAmae('tiny', { seed: 9 }).weights());
});

test('reconstruct: per contrast the original, its masked patches zeroed, and the prediction of every patch', async (t) => {
  const model = createAmae({ ...tiny, normPix: true }, { seed: 1 });
  const subject = blobSubject(32, [6, 1], 4); // given out of registry order
  const keep = [[0, 5], [7]];
  const rec = await model.reconstruct(subject, { keep });
  t.deepEqual(rec.map((r) => r.id), [6, 1], 'in the subject’s order');
  t.deepEqual(rec.map((r) => Array.from(r.keep)), keep);
  for (const [c, r] of rec.entries()) {
    t.is(r.original, subject.contrasts[c].data);
    t.is(r.reconstruction.length, 32 ** 3);
    t.true(r.reconstruction.every(Number.isFinite));
    // Patch q = (gh·2 + gw)·2 + gd covers [gh·16, +16) × [gw·16, +16) × [gd·16, +16).
    for (let q = 0; q < P; q++) {
      const [gh, gw, gd] = [q >> 2, (q >> 1) & 1, q & 1];
      const voxel = ((gh * 16 + 3) * 32 + gw * 16 + 5) * 32 + gd * 16 + 7;
      const kept = keep[c].includes(q);
      t.is(r.masked[voxel], kept ? r.original[voxel] : 0, `contrast ${c} patch ${q}`);
    }
  }
  // Random masks follow the seed and the ratio.
  const a = await model.reconstruct(subject, { maskRatio: 0.5, seed: 3 });
  const b = await model.reconstruct(subject, { maskRatio: 0.5, seed: 3 });
  t.deepEqual(a, b);
  t.is(a[0].keep.length, 4);
});
