// amae predict (a study's files → a mask on the reference image's grid) and amae convert (AMAE →
// an untrained segmentation checkpoint), on synthetic files always and on the real files where
// they are.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { readNifti } from '../../lib/data/nifti.js';
import { writeSynthDataset } from '../../lib/data/synth.js';
import { predictFiles } from '../../lib/infer/predict.js';
import { createAmae } from '../../lib/models/amae.js';
import { AdaptiveUnetr, Unetr, loadSegmentationModel } from '../../lib/models/segmentation.js';
import { niftiBytes } from '../helpers/nifti-bytes.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/amae.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-predict-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const unetrFile = path.join(tmp, 'unetr.safetensors');
const adaptiveFile = path.join(tmp, 'adaptive.safetensors');
const amaeFile = path.join(tmp, 'amae.safetensors');
const data = path.join(tmp, 'data');
const ready = Promise.all([
  new Unetr('tiny', { seed: 1 }).save(unetrFile),
  new AdaptiveUnetr('tiny', { seed: 1 }).save(adaptiveFile),
  createAmae('tiny').save(amaeFile),
  writeSynthDataset(data, { subjects: 2, labeled: 2, size: 40, seed: 6 }),
]);

function amae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

// The first synthetic case's images, by contrast.
function synthImages(): Record<string, string> {
  const ds = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8'));
  const c = ds.training[0] ?? ds.validation[0];
  return Object.fromEntries(Object.entries(c.images as Record<string, string>).map(([k, f]) => [k, path.join(data, f)]));
}

test('predict: the mask lies on the reference file’s own grid (shape and affine), probabilities beside it; slots without an image are named', async (t) => {
  await ready;
  const images = synthImages();
  const out = path.join(tmp, 'seg.nii.gz');
  const probs = path.join(tmp, 'p.nii.gz');
  const r = await amae('predict', '--checkpoint', unetrFile, '--images', `ADC=${images.ADC}`, `DWI=${images.TRACE}`, '--out', out, '--probabilities', probs);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /no T2 image: its slot is zero-filled/);
  const ref = await readNifti(images.TRACE);
  const mask = await readNifti(out);
  t.deepEqual(mask.shape, ref.shape);
  t.deepEqual(Array.from(mask.affine.flat()).map((v) => +v.toFixed(4)), Array.from(ref.affine.flat()).map((v) => +v.toFixed(4)));
  t.true(mask.data.every((v) => v === 0 || v === 1));
  const p = await readNifti(probs);
  t.true(p.data.every((v) => v >= 0 && v <= 1));
  t.true(p.data.every((v, i) => (v >= 0.5 ? 1 : 0) === mask.data[i]));
  // Adaptive UNETR takes any subset, reference chosen explicitly; --preprocess none.
  const m = await loadSegmentationModel(adaptiveFile);
  const pred = await predictFiles(m, { T2: images.T2 ?? images.ADC, ADC: images.ADC }, { reference: 'ADC', preprocess: 'none' });
  t.deepEqual(pred.mask.shape, (await readNifti(images.ADC)).shape);
  t.deepEqual(pred.zeroFilled, []);
});

test('predict: bad inputs are one-line errors (exit 2) and nothing is written', async (t) => {
  await ready;
  const images = synthImages();
  const out = path.join(tmp, 'never.nii.gz');
  const cases: [string[], RegExp][] = [
    [['--images', `FLAIR=${images.FLAIR ?? images.ADC}`], /does not take FLAIR; it takes ADC, TRACE, T2/],
    [['--images', `XYZ=${images.ADC}`], /unknown contrast 'XYZ'/],
    [['--images', `ADC=${path.join(tmp, 'missing.nii.gz')}`], /missing\.nii\.gz/],
    [['--images', 'ADC'], /--images takes CONTRAST=FILE pairs/],
    [['--images', `ADC=${images.ADC}`, '--preprocess', 'zscore'], /--preprocess takes only 'none'/],
  ];
  for (const [args, message] of cases) {
    const r = await amae('predict', '--checkpoint', unetrFile, '--out', out, ...args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  const notSeg = await amae('predict', '--checkpoint', amaeFile, '--images', `ADC=${images.ADC}`, '--out', out);
  t.is(notSeg.code, 2);
  t.regex(notSeg.stderr, /kind is "amae", not 'unetr' or 'adaptive-unetr' or 'unet'/);
  // NaN voxels: the file is named.
  const nan = path.join(tmp, 'nan.nii');
  fs.writeFileSync(nan, niftiBytes({ dims: [32, 32, 32], values: Array.from({ length: 32 ** 3 }, (_, i) => (i === 5 ? Number.NaN : 1)) }));
  const r = await amae('predict', '--checkpoint', unetrFile, '--images', `ADC=${nan}`, '--out', out);
  t.is(r.code, 2);
  t.regex(r.stderr, /nan\.nii.*NaN/);
  t.false(fs.existsSync(out), 'nothing written');
});

test('convert: an AMAE checkpoint becomes an untrained UNETR / Adaptive UNETR checkpoint that loads', async (t) => {
  await ready;
  const out = path.join(tmp, 'init-unetr.safetensors');
  const r = await amae('convert', '--checkpoint', amaeFile, '--to', 'unetr', '--slots', 'ADC,DWI', '--feature-size', '8', '--out', out);
  t.is(r.code, 0, r.stderr);
  const m = await loadSegmentationModel(out);
  t.is(m.kind, 'unetr');
  t.deepEqual((m as Unetr).config.slots, ['ADC', 'TRACE']);
  t.true(m.parameters().some((p) => p.name === 'vit.patch_embedding.patch_embeddings.weight'));
  const a = await amae('convert', '--checkpoint', amaeFile, '--to', 'adaptive-unetr', '--out', path.join(tmp, 'init-ad.safetensors'));
  t.is(a.code, 0, a.stderr);
  const bad = await amae('convert', '--checkpoint', unetrFile, '--to', 'unetr', '--out', path.join(tmp, 'x.safetensors'));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /kind is "unetr", not 'amae'/);
});

realTest('predict on the real ISLES\'22 DWI + ADC and the BraTS 2023 four contrasts: the mask has the reference image’s shape and affine', async (t) => {
  await ready;
  const out = path.join(tmp, 'isles.nii.gz');
  const r = await amae('predict', '--checkpoint', unetrFile, '--images', `DWI=${realFile(REAL.dwi)}`, `ADC=${realFile(REAL.adc)}`, '--out', out);
  t.is(r.code, 0, r.stderr);
  const ref = await readNifti(realFile(REAL.dwi));
  const mask = await readNifti(out);
  t.deepEqual(mask.shape, ref.shape);
  t.deepEqual(Array.from(mask.affine.flat()).map((v) => +v.toFixed(4)), Array.from(ref.affine.flat()).map((v) => +v.toFixed(4)));
  const dir = path.dirname(realFile(REAL.t1n2023));
  const brats = path.join(tmp, 'brats.nii.gz');
  const b = await amae('predict', '--checkpoint', adaptiveFile, '--images', `T1C=${dir}/BraTS-GLI-00001-000-t1c.nii.gz`, `T1=${dir}/BraTS-GLI-00001-000-t1n.nii.gz`,
    `FLAIR=${dir}/BraTS-GLI-00001-000-t2f.nii.gz`, `T2=${dir}/BraTS-GLI-00001-000-t2w.nii.gz`, '--reference', 'T2', '--out', brats);
  t.is(b.code, 0, b.stderr);
  const t2 = await readNifti(`${dir}/BraTS-GLI-00001-000-t2w.nii.gz`);
  t.deepEqual((await readNifti(brats)).shape, t2.shape);
});
