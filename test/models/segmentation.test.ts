import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createAmae } from '../../lib/models/amae.js';
import { CheckpointError, readSafetensors, writeSafetensors } from '../../lib/models/safetensors.js';
import {
  AdaptiveUnetr,
  type AnySegmentationModel,
  type SegmentationSubject,
  Unet,
  Unetr,
  createSegmentationModel,
  loadSegmentationModel,
  packSegmentation,
} from '../../lib/models/segmentation.js';
import { addon } from '../../lib/native.js';
import { blobSubject } from './fixtures.js';

const size = [32, 32, 32] as const;
const V = 32 ** 3;
const vit = { size, featureSize: 4, embedDim: 12, depth: 2, heads: 2 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'amae-seg-'));

// A subject with the given contrasts (registry ids) of one blob anatomy, labelled where |x| > 0.35.
function subject(ids: number[], seed: number, labelled = true): SegmentationSubject {
  const s = blobSubject(32, ids, seed);
  const label = s.contrasts[0].data.map((x) => (Math.abs(x) > 0.35 ? 1 : 0));
  return labelled ? { contrasts: s.contrasts, label } : { contrasts: s.contrasts };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

test('every model kind has tiny, demo and paper presets of the right sizes', (t) => {
  for (const kind of ['unetr', 'adaptive-unetr', 'unet'] as const) {
    const m = createSegmentationModel(kind, 'tiny');
    t.deepEqual(m.config.size, [32, 32, 32]);
    t.is(m.kind, kind);
    t.is(m.config.classes, 1);
  }
  t.deepEqual(new Unetr('tiny').config.slots, ['ADC', 'TRACE', 'T2']);
  t.deepEqual(new Unet('tiny').parameters().find((p) => p.name === 'out.conv.conv.weight')!.shape, [1, 4, 1, 1, 1]);
  t.throws(() => new Unetr('huge' as never), { instanceOf: RangeError, message: /unknown UNETR preset 'huge'/ });
});

test('Adaptive UNETR takes every subset of {ADC, TRACE, T2}, and a batch mixing them gives each subject its own output', async (t) => {
  const model = new AdaptiveUnetr(vit, { seed: 1 });
  const subsets = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
  const alone: Float32Array[] = [];
  for (const [i, ids] of subsets.entries()) {
    const { logits, loss } = await model.forward(model.pack([subject(ids, 10 + i)]));
    t.deepEqual(logits.shape, [1, 1, 32, 32, 32]);
    t.true(logits.data.every(Number.isFinite), `finite logits for ${ids}`);
    t.true(loss! > 0 && loss! < 1);
    alone.push(logits.data);
  }
  // Attention never crosses subjects and each max runs over a subject's own contrasts, so a batch
  // of all seven subsets reproduces every subject's output alone.
  const { logits } = await model.forward(model.pack(subsets.map((ids, i) => subject(ids, 10 + i))));
  subsets.forEach((_, i) => t.true(maxDiff(logits.data.subarray(i * V, (i + 1) * V), alone[i]) < 1e-5, `subject ${i} in the batch`));
  // Other registry contrasts are valid inputs too.
  const other = await model.forward(model.pack([subject([3, 6, 8], 30, false)]));
  t.is(other.loss, undefined, 'no labels, no loss');
});

test('UNETR and U-Net: a missing slot is a zero volume, and a contrast without a slot is refused by name', async (t) => {
  for (const model of [new Unetr(vit, { seed: 2 }), new Unet({ size, channels: [2, 3, 4, 5, 6] }, { seed: 2 })] as AnySegmentationModel[]) {
    const s = subject([0, 1], 5);
    const missing = await model.forward(model.pack([s]));
    const zeroed = await model.forward(model.pack([{ ...s, contrasts: [...s.contrasts, { id: 2, data: new Float32Array(V) }] }]));
    t.deepEqual(missing.logits.data, zeroed.logits.data, `${model.kind}: no T2 = a zero T2`);
    t.is(missing.loss, zeroed.loss);
    // Batched with another subject: each subject's logits are its own (InstanceNorm is per sample).
    const both = await model.forward(model.pack([subject([1, 2], 6), s]));
    t.true(maxDiff(both.logits.data.subarray(V), missing.logits.data) < 1e-5, `${model.kind}: batch-independent`);
    await t.throwsAsync(model.forward(model.pack([subject([0, 6], 7)])), {
      instanceOf: RangeError,
      message: /batch\.contrasts\[1\] = 6 \(FLAIR\) is not a contrast this model takes \(it takes ADC, TRACE, T2\)/,
    });
  }
  const flair = new Unetr({ ...vit, slots: ['flair', 'dwi'] });
  t.deepEqual(flair.config.slots, ['FLAIR', 'TRACE'], 'slots by name or alias, in the given order');
  t.throws(() => new Unetr({ ...vit, slots: ['ADC', 'XYZ'] }), { message: /config\.slots\[1\]: unknown contrast 'XYZ'/ });
  t.throws(() => new Unetr({ ...vit, slots: ['ADC', 'adc'] }), { instanceOf: RangeError, message: /config\.slots\[1\] = ADC appears twice/ });
});

test('bad batches and configurations get typed errors naming the field', async (t) => {
  const model = new Unetr(vit);
  const good = model.pack([subject([0, 1], 1)]);
  await t.throwsAsync(model.trainStep({ ...good, labels: undefined }, { lr: 1e-3 }), { instanceOf: TypeError, message: /batch\.labels is required for the loss/ });
  await t.throwsAsync(model.trainStep({ ...good, labels: { data: new Float32Array(2 * V), shape: [1, 2, 32, 32, 32] } }, { lr: 1e-3 }), {
    instanceOf: RangeError,
    message: /batch\.labels\.shape \[1,2,32,32,32\] must be \[1,1,32,32,32\]/,
  });
  await t.throwsAsync(model.trainStep({ ...good, keep: new Int32Array(1) } as never, { lr: 1e-3 }), { instanceOf: TypeError, message: /batch\.keep is not a known field/ });
  const nan = model.pack([subject([0, 1], 1)]);
  nan.volumes.data[V + 5] = Number.NaN;
  await t.throwsAsync(model.forward(nan), { message: /batch\.volumes holds NaN in volume 1 at voxel \[0, 0, 5\]/ });
  const badLabel = model.pack([subject([0, 1], 1)]);
  badLabel.labels!.data[3] = Number.POSITIVE_INFINITY;
  await t.throwsAsync(model.trainStep(badLabel, { lr: 1e-3 }), { message: /batch\.labels holds \+Infinity in volume 0 at voxel \[0, 0, 3\]/ });
  const bad: [string, object, ErrorConstructor, RegExp][] = [
    ['unetr', { ...vit, slots: [0], patch: 8 }, RangeError, /config\.patch = 8: the UNETR decoder upsamples ×16/],
    ['unetr', { ...vit, slots: [0], size: [32, 32, 40] }, RangeError, /config\.size \[32, 32, 40\] is not divisible by the patch size 16/],
    ['unetr', { ...vit, slots: [0], heads: 5 }, RangeError, /config\.embedDim = 12 is not divisible by config\.heads = 5/],
    ['adaptive-unetr', { ...vit, embedDim: 16, heads: 2 }, RangeError, /config\.embedDim = 16 must be divisible by 6/],
    ['adaptive-unetr', { ...vit, slots: [0] }, TypeError, /config\.slots is not a known field/],
    ['unet', { size, slots: [0], channels: [2, 3, 4] }, TypeError, /config\.channels must be an array of 5 integers/],
    ['unet', { size: [32, 32, 24], slots: [0], channels: [2, 3, 4, 5, 6] }, RangeError, /config\.size \[32, 32, 24\] is not divisible by 16/],
    ['unet', { size, slots: [9], channels: [2, 3, 4, 5, 6] }, RangeError, /config\.slots\[0\] = 9 is not a contrast id/],
    ['unetr', vit, TypeError, /config\.slots must be a non-empty array of contrast ids/],
    ['vit', vit, RangeError, /kind 'vit' is not a model kind/],
  ];
  for (const [kind, config, type, message] of bad) t.throws(() => new addon.Model(kind as never, config), { instanceOf: type, message });
  t.throws(() => packSegmentation([subject([0], 1), subject([1], 2, false)], size), { instanceOf: RangeError, message: /subjects\[1\] lacks a label/ });
});

test('fine-tuning steps lower the Dice loss of each model on blob subjects', async (t) => {
  const batch = (m: AnySegmentationModel) => m.pack([subject([0, 1, 2], 21), subject([0, 1], 22)]);
  for (const model of [new Unetr(vit, { seed: 4 }), new AdaptiveUnetr(vit, { seed: 4 }), new Unet({ size, channels: [4, 8, 8, 8, 8] }, { seed: 4 })] as AnySegmentationModel[]) {
    const b = batch(model);
    const first = (await model.forward(b)).loss!;
    for (let i = 0; i < 25; i++) t.true((await model.trainStep(b, { lr: 3e-3, beta2: 0.999 })).updated);
    const last = (await model.forward(b)).loss!;
    t.log(`${model.kind}: Dice loss ${first.toFixed(4)} → ${last.toFixed(4)}`);
    t.true(last < 0.7 * first, `${model.kind}: ${first} → ${last}`);
  }
});

test('save → load gives identical logits; a checkpoint of another kind or with a missing, mis-shaped or NaN tensor is refused by name', async (t) => {
  const dir = tmp();
  const amaeFile = path.join(dir, 'amae.safetensors');
  await createAmae('tiny').save(amaeFile);
  for (const model of [new Unetr(vit, { seed: 9 }), new AdaptiveUnetr(vit, { seed: 9 }), new Unet({ size, channels: [2, 3, 4, 5, 6] }, { seed: 9 })] as AnySegmentationModel[]) {
    const file = path.join(dir, `${model.kind}.safetensors`);
    await model.save(file);
    const b = model.pack([subject([0, 1], 3)]);
    const loaded = await loadSegmentationModel(file);
    t.is(loaded.kind, model.kind);
    t.deepEqual(loaded.config, model.config);
    t.deepEqual((await loaded.forward(b)).logits.data, (await model.forward(b)).logits.data, `${model.kind}: identical after load`);
    const { metadata } = await readSafetensors(file);
    t.is(metadata.kind, model.kind);

    const { tensors } = await readSafetensors(file);
    const rewrite = async (edit: (m: Map<string, { data: Float32Array; shape: number[] }>) => void) => {
      const m = new Map([...tensors].map(([k, v]) => [k, { data: new Float32Array(v.data as Float32Array), shape: [...v.shape] }]));
      edit(m);
      const out = path.join(dir, 'edited.safetensors');
      await writeSafetensors(out, [...m], metadata);
      return out;
    };
    const name = model.parameters()[1].name;
    await t.throwsAsync(loadSegmentationModel(await rewrite((m) => m.delete(name))), { instanceOf: CheckpointError, message: new RegExp(`tensor ${name.replaceAll('.', '\\.')} is missing`) });
    await t.throwsAsync(loadSegmentationModel(await rewrite((m) => m.set(name, { data: new Float32Array(3), shape: [3] }))), {
      instanceOf: CheckpointError,
      message: new RegExp(`tensor ${name.replaceAll('.', '\\.')} has shape \\[3\\]`),
    });
    await t.throwsAsync(loadSegmentationModel(await rewrite((m) => (m.get(name)!.data[0] = Number.NaN))), {
      instanceOf: CheckpointError,
      message: new RegExp(`tensor ${name.replaceAll('.', '\\.')} holds NaN at element 0`),
    });
  }
  await t.throwsAsync(loadSegmentationModel(amaeFile), { instanceOf: CheckpointError, message: /kind is "amae", not 'unetr' or 'adaptive-unetr' or 'unet'/ });
});

test("UNETR's checkpoint names and shapes are MONAI UNETR's (in_channels 3, 96³, F 16, ViT-B); Adaptive UNETR's decoder is the same", (t) => {
  // Written out from MONAI's code (see the fixture's "source"); MONAI ≥ 1.4's unused cross-attention
  // tensors excluded, so that load_state_dict(strict=False) reports nothing missing or unexpected.
  const fixture = JSON.parse(fs.readFileSync(new URL('./fixtures/monai-unetr-names.json', import.meta.url), 'utf8')) as { tensors: [string, number[]][] };
  const monai = new Map(fixture.tensors);
  const ours = new Map(new Unetr('paper').parameters().map((p) => [p.name, p.shape]));
  t.deepEqual([...ours.keys()].sort(), [...monai.keys()].sort());
  for (const [name, shape] of monai) t.deepEqual(ours.get(name), shape, name);
  // Outside the blocks (whose tensors the ViT stack shared with AMAE declares in its own order) the
  // order is MONAI's state-dict order too.
  const outside = (names: string[]) => names.filter((n) => !n.startsWith('vit.blocks.'));
  t.deepEqual(outside([...ours.keys()]), outside([...monai.keys()]));
  const adaptive = new Map(new AdaptiveUnetr('paper').parameters().map((p) => [p.name, p.shape]));
  for (const [name, shape] of monai) {
    if (name.startsWith('vit.')) continue;
    t.deepEqual(adaptive.get(name), /encoder1\.layer\.conv[13]\./.test(name) ? [shape[0], 1, ...shape.slice(2)] : shape, name);
  }
});
