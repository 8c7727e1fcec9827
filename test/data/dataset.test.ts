// Data sets: amae's dataset.json, the Decathlon's, and an ISLES'22 BIDS folder, each built small in
// a temp dir; every validation error names the data set, the case and the field.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DatasetError, openDataset } from '../../lib/data/dataset.js';
import { writeNifti } from '../../lib/data/nifti.js';
import { CaseError, loadSubject } from '../../lib/data/subject.js';
import { makeVolume, type Affine, type Shape3 } from '../../lib/data/volume.js';
import { indexRamp, niftiBytes } from '../helpers/nifti-bytes.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-dataset-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

let serial = 0;
function freshDir(name: string): string {
  const dir = path.join(tmp, `${serial++}-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const SHAPE: Shape3 = [6, 7, 5];
const EYE: Affine = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];

/** A small image whose every voxel holds `value` (a label: a one-voxel lesion of `value`). */
async function image(file: string, value: number, opts: { label?: boolean; affine?: Affine; shape?: Shape3 } = {}): Promise<void> {
  const shape = opts.shape ?? SHAPE;
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  if (opts.label) data[17] = value;
  else data.fill(value);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeNifti(file, makeVolume(data, shape, opts.affine ?? EYE), { datatype: opts.label ? 'uint8' : 'float32' });
}

function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value, null, 1));
  return file;
}

/** An amae data set: two labelled training cases, one validation, one test, one unlabeled. */
async function amaeFixture(): Promise<{ dir: string; json: Record<string, unknown> }> {
  const dir = freshDir('amae');
  for (const c of ['a', 'b', 'v', 't', 'u']) {
    await image(path.join(dir, 'img', `${c}_dwi.nii.gz`), 10);
    await image(path.join(dir, 'img', `${c}_adc.nii.gz`), 20);
    await image(path.join(dir, 'lbl', `${c}.nii.gz`), 1, { label: true });
  }
  await image(path.join(dir, 'img', 'a_t2.nii.gz'), 30);
  const c = (id: string, label = true, extra: Record<string, string> = {}) => ({
    id,
    images: { dwi: `img/${id}_dwi.nii.gz`, ADC: `./img/${id}_adc.nii.gz`, ...extra },
    ...(label ? { label: `lbl/${id}.nii.gz` } : {}),
  });
  const json = {
    name: 'tiny',
    description: 'top-level extras are allowed',
    training: [c('a', true, { T2w: 'img/a_t2.nii.gz' }), c('b')],
    validation: [c('v')],
    test: [c('t', false)],
    unlabeled: [c('u', false)],
  };
  writeJson(path.join(dir, 'dataset.json'), json);
  return { dir, json };
}

test('amae dataset.json: splits, absolute paths, registry names and order; a case loads', async (t) => {
  const { dir } = await amaeFixture();
  for (const where of [dir, path.join(dir, 'dataset.json')]) {
    const ds = await openDataset(where);
    t.is(ds.kind, 'amae');
    t.is(ds.name, 'tiny');
    t.is(ds.source, path.join(dir, 'dataset.json'));
    t.deepEqual(ds.contrasts, ['ADC', 'TRACE', 'T2']);
    t.deepEqual(
      [ds.training, ds.validation, ds.test, ds.unlabeled].map((s) => s.map((c) => c.id)),
      [['a', 'b'], ['v'], ['t'], ['u']],
    );
    t.deepEqual(ds.training[0], {
      id: 'a',
      images: { ADC: path.join(dir, 'img/a_adc.nii.gz'), TRACE: path.join(dir, 'img/a_dwi.nii.gz'), T2: path.join(dir, 'img/a_t2.nii.gz') },
      label: path.join(dir, 'lbl/a.nii.gz'),
    });
    t.is(ds.test[0].label, undefined);
  }
  const ds = await openDataset(dir);
  const s = await loadSubject(ds.training[0], { where: ds.source });
  t.is(s.reference, 'TRACE');
  t.deepEqual(
    s.contrasts.map((c) => c.volume.data[0]),
    [20, 10, 30],
  );
  t.is(s.label!.data[17], 1);
});

test('amae dataset.json: declared contrasts are the list, and bind the cases', async (t) => {
  const { dir, json } = await amaeFixture();
  const file = writeJson(path.join(dir, 'declared.json'), { ...json, contrasts: ['flair', 'T2', 'DWI', 'ADC'] });
  t.deepEqual((await openDataset(file)).contrasts, ['ADC', 'TRACE', 'T2', 'FLAIR']);
  const narrow = writeJson(path.join(dir, 'narrow.json'), { ...json, contrasts: ['TRACE', 'ADC'] });
  await t.throwsAsync(openDataset(narrow), { instanceOf: CaseError, message: `${narrow}: case 'a', images.T2w: T2 is not among the data set's contrasts [TRACE, ADC]` });
});

test('amae dataset.json: every validation error names the file, the case and the field', async (t) => {
  const { dir, json } = await amaeFixture();
  const training = json.training as Record<string, unknown>[];
  const variants: [string, unknown, RegExp][] = [
    ['no-name', { ...json, name: undefined }, /: name: must be a non-empty string, got nothing$/],
    ['no-training', { ...json, training: undefined }, /: training: is missing/],
    ['training-type', { ...json, training: { a: 1 } }, /: training: must be a list of cases, got an object$/],
    ['case-type', { ...json, training: ['a'] }, /: training\[0\]: must be a case object .*, got the string "a"$/],
    ['no-id', { ...json, training: [{ ...training[0], id: undefined }] }, /: training\[0\]\.id: must be a non-empty string, got nothing$/],
    ['id-type', { ...json, training: [{ ...training[0], id: 7 }] }, /: training\[0\]\.id: must be a non-empty string, got the number 7$/],
    ['dup-id', { ...json, unlabeled: [{ ...training[1], label: undefined }] }, /: case 'b', id: also the id of training\[1\]/],
    ['unknown-contrast', { ...json, training: [{ ...training[0], images: { T3: 'img/a_t2.nii.gz' } }] }, /: case 'a', images\.T3: unknown contrast 'T3'; accepted: ADC, TRACE/],
    ['alias-twice', { ...json, training: [{ ...training[0], images: { DWI: 'img/a_dwi.nii.gz', trace: 'img/a_dwi.nii.gz' } }] }, /: case 'a', images\.trace: images\.DWI is the same contrast \(TRACE\)/],
    ['images-type', { ...json, training: [{ ...training[0], images: ['img/a_dwi.nii.gz'] }] }, /: case 'a', images: must be an object \{CONTRAST: path\}, got a list$/],
    ['no-images', { ...json, training: [{ ...training[0], images: {} }] }, /: case 'a', images: no contrast given$/],
    ['path-type', { ...json, training: [{ ...training[0], images: { ADC: 3 } }] }, /: case 'a', images\.ADC: must be a file path, got the number 3$/],
    ['missing-file', { ...json, training: [{ ...training[0], images: { ADC: 'img/none.nii.gz' } }] }, /: case 'a', images\.ADC: .*img\/none\.nii\.gz: no such file$/],
    ['missing-label-file', { ...json, training: [{ ...training[0], label: 'lbl/none.nii.gz' }] }, /: case 'a', label: .*lbl\/none\.nii\.gz: no such file$/],
    ['no-label', { ...json, training: [{ ...training[0], label: undefined }] }, /: case 'a', label: is missing: a training case needs one/],
    ['label-unlabeled', { ...json, unlabeled: [{ ...training[0], id: 'x' }] }, /: case 'x', label: an unlabeled case has no label/],
    ['typo', { ...json, training: [{ ...training[0], lable: 'lbl/a.nii.gz' }] }, /: case 'a', lable: unknown field/],
    ['bad-declared', { ...json, contrasts: ['TRACE', 'MRI'] }, /: contrasts\[1\]: unknown contrast 'MRI'/],
    ['declared-twice', { ...json, contrasts: ['TRACE', 'dwi'] }, /: contrasts: TRACE is listed twice$/],
  ];
  for (const [name, value, message] of variants) {
    const file = writeJson(path.join(dir, `${name}.json`), value);
    const err = await t.throwsAsync(openDataset(file), undefined, name);
    t.true(err instanceof CaseError || err instanceof DatasetError, name);
    t.true(err!.message.startsWith(`${file}: `), `${name}: ${err!.message}`);
    t.regex(err!.message, message, name);
  }
  const broken = path.join(dir, 'broken.json');
  fs.writeFileSync(broken, '{"name": "x", ');
  await t.throwsAsync(openDataset(broken), { instanceOf: DatasetError, message: new RegExp(`^${broken}: not valid JSON`) });
  const list = writeJson(path.join(dir, 'list.json'), []);
  await t.throwsAsync(openDataset(list), { message: `${list}: must hold a JSON object, not a list` });
  await t.throwsAsync(openDataset(path.join(dir, 'nowhere')), { message: /nowhere: no such file or folder/ });
  await t.throwsAsync(openDataset(freshDir('empty')), { message: /neither a dataset\.json nor sub-\* folders/ });
});

realTest('amae dataset.json naming the real ISLES files by absolute path', async (t) => {
  const dir = freshDir('real');
  const file = writeJson(path.join(dir, 'dataset.json'), {
    name: 'isles-sample',
    unlabeled: [{ id: 'sub-strokecase0001', images: { DWI: realFile(REAL.dwi), adc: realFile(REAL.adc) } }],
    training: [],
  });
  const ds = await openDataset(file);
  t.deepEqual(ds.unlabeled[0].images, { ADC: realFile(REAL.adc), TRACE: realFile(REAL.dwi) });
  const s = await loadSubject(ds.unlabeled[0], { where: ds.source });
  t.deepEqual(s.grid.shape, [112, 112, 73]);
});

test('Decathlon dataset.json: 4D images split into their modalities, ids from file names', async (t) => {
  const dir = freshDir('msd');
  const ramp = indexRamp(4, 3, 2);
  const four = niftiBytes({ dims: [4, 3, 2, 4], values: [0, 1, 2, 3].flatMap((c) => ramp.map((x) => x + 1000 * c)) });
  for (const f of ['imagesTr/BRATS_001.nii', 'imagesTs/BRATS_002.nii']) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), four);
  }
  fs.mkdirSync(path.join(dir, 'labelsTr'));
  fs.writeFileSync(path.join(dir, 'labelsTr/BRATS_001.nii'), niftiBytes({ dims: [4, 3, 2], values: ramp.map((x) => (x === 111 ? 2 : 0)) }));
  const json = {
    name: 'BRATS',
    tensorImageSize: '4D',
    modality: { '0': 'FLAIR', '1': 'T1w', '2': 't1gd', '3': 'T2w' },
    labels: { '0': 'background', '1': 'edema', '2': 'non-enhancing tumor', '3': 'enhancing tumour' },
    training: [{ image: './imagesTr/BRATS_001.nii', label: './labelsTr/BRATS_001.nii' }],
    test: ['./imagesTs/BRATS_002.nii'],
  };
  writeJson(path.join(dir, 'dataset.json'), json);
  const ds = await openDataset(dir);
  t.is(ds.kind, 'msd');
  t.is(ds.name, 'BRATS');
  t.deepEqual(ds.contrasts, ['T2', 'T1', 'FLAIR', 'T1CE']);
  t.deepEqual(
    ds.training.map((c) => c.id),
    ['BRATS_001'],
  );
  t.deepEqual(
    ds.test.map((c) => [c.id, c.label]),
    [['BRATS_002', undefined]],
  );
  const image = path.join(dir, 'imagesTr/BRATS_001.nii');
  t.deepEqual(ds.training[0].images, {
    T2: { file: image, channel: 3 },
    T1: { file: image, channel: 1 },
    FLAIR: { file: image, channel: 0 },
    T1CE: { file: image, channel: 2 },
  });
  const s = await loadSubject(ds.training[0], { where: ds.source });
  t.is(s.reference, 'FLAIR');
  // Voxel (1, 1, 1) holds 111 + 1000 × channel.
  const at = (i: number, j: number, k: number) => (i * 3 + j) * 2 + k;
  t.deepEqual(
    s.contrasts.map((c) => [c.name, c.volume.data[at(1, 1, 1)]]),
    [
      ['T2', 3111],
      ['T1', 1111],
      ['FLAIR', 111],
      ['T1CE', 2111],
    ],
  );
  t.is(s.label!.data[at(1, 1, 1)], 2);

  const bad: [string, unknown, RegExp][] = [
    ['mri', { ...json, modality: { '0': 'MRI' } }, /: modality\.0: unknown contrast 'MRI'/],
    ['keys', { ...json, modality: { '0': 'FLAIR', '2': 'T2w' } }, /: modality: keys must be the channels 0…1, got 0, 2/],
    ['twice', { ...json, modality: { '0': 'T1w', '1': 'T1' } }, /: modality: two channels are T1/],
    ['no-label', { ...json, training: [{ image: './imagesTr/BRATS_001.nii' }] }, /: case 'BRATS_001', label: must be a file path, got nothing/],
    ['missing', { ...json, test: ['./imagesTs/BRATS_003.nii.gz'] }, /: case 'BRATS_003', images\.T2: .*BRATS_003\.nii\.gz: no such file/],
    ['dup', { ...json, test: ['./imagesTr/BRATS_001.nii'] }, /: case 'BRATS_001', id: also the id of training\[0\]/],
  ];
  for (const [name, value, message] of bad) {
    const f = writeJson(path.join(dir, `${name}.json`), value);
    const err = await t.throwsAsync(openDataset(f), undefined, name);
    t.true(err!.message.startsWith(`${f}: `), err!.message);
    t.regex(err!.message, message, name);
  }
});

test("ISLES'22 BIDS folder: sessions become cases, masks from derivatives, FLAIR on its own grid", async (t) => {
  const root = freshDir('ISLES-2022');
  const s1 = path.join(root, 'sub-strokecase0001/ses-0001');
  await image(path.join(s1, 'dwi/sub-strokecase0001_ses-0001_dwi.nii.gz'), 10);
  await image(path.join(s1, 'dwi/sub-strokecase0001_ses-0001_adc.nii.gz'), 20);
  fs.writeFileSync(path.join(s1, 'dwi/sub-strokecase0001_ses-0001_dwi.json'), '{}');
  // 0.5 × 0.5 mm in-plane, 3 mm slices, covering the DWI's field of view.
  const flairAffine: Affine = [
    [0.5, 0, 0, -0.5],
    [0, 0.5, 0, -0.5],
    [0, 0, 3, 0],
    [0, 0, 0, 1],
  ];
  await image(path.join(s1, 'anat/sub-strokecase0001_ses-0001_FLAIR.nii.gz'), 30, { affine: flairAffine, shape: [14, 16, 3] });
  await image(path.join(root, 'derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz'), 1, { label: true });
  const s2 = path.join(root, 'sub-strokecase0002/ses-0001');
  await image(path.join(s2, 'dwi/sub-strokecase0002_ses-0001_dwi.nii.gz'), 11);
  fs.writeFileSync(path.join(root, 'dataset_description.json'), '{"Name": "ISLES 2022"}');

  const ds = await openDataset(root);
  t.is(ds.kind, 'isles22-bids');
  t.deepEqual(ds.contrasts, ['ADC', 'TRACE', 'FLAIR']);
  t.deepEqual(ds.training, [
    {
      id: 'sub-strokecase0001_ses-0001',
      images: {
        ADC: path.join(s1, 'dwi/sub-strokecase0001_ses-0001_adc.nii.gz'),
        TRACE: path.join(s1, 'dwi/sub-strokecase0001_ses-0001_dwi.nii.gz'),
        FLAIR: path.join(s1, 'anat/sub-strokecase0001_ses-0001_FLAIR.nii.gz'),
      },
      label: path.join(root, 'derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz'),
    },
  ]);
  t.deepEqual(
    ds.unlabeled.map((c) => [c.id, Object.keys(c.images)]),
    [['sub-strokecase0002_ses-0001', ['TRACE']]],
  );
  const s = await loadSubject(ds.training[0], { where: ds.source });
  t.is(s.reference, 'TRACE');
  t.deepEqual(s.grid.shape, SHAPE);
  // The FLAIR, resampled from its own grid, is 30 wherever it covers the DWI grid.
  const flair = s.contrasts.find((c) => c.name === 'FLAIR')!.volume;
  t.is(flair.data[(2 * 7 + 3) * 5 + 2], 30);

  // A mask without a session, and a session without images.
  await image(path.join(root, 'derivatives/sub-strokecase0009/ses-0001/sub-strokecase0009_ses-0001_msk.nii.gz'), 1, { label: true });
  await t.throwsAsync(openDataset(root), { instanceOf: DatasetError, message: `${root}: derivatives/sub-strokecase0009/ses-0001/sub-strokecase0009_ses-0001_msk.nii.gz: a mask for a session that has no images` });
  fs.rmSync(path.join(root, 'derivatives/sub-strokecase0009'), { recursive: true });
  fs.mkdirSync(path.join(root, 'sub-strokecase0003/ses-0001/anat'), { recursive: true });
  await t.throwsAsync(openDataset(root), { instanceOf: CaseError, message: /: case 'sub-strokecase0003_ses-0001', images: no dwi\/\*_dwi\.nii\.gz, dwi\/\*_adc\.nii\.gz, anat\/\*_FLAIR\.nii\.gz in / });
});

realTest("ISLES'22 BIDS folder of the real sample (linked, not copied)", async (t) => {
  const root = freshDir('isles-real');
  const dwi = path.join(root, 'sub-strokecase0001/ses-0001/dwi');
  fs.mkdirSync(dwi, { recursive: true });
  fs.symlinkSync(realFile(REAL.dwi), path.join(dwi, 'sub-strokecase0001_ses-0001_dwi.nii.gz'));
  fs.symlinkSync(realFile(REAL.adc), path.join(dwi, 'sub-strokecase0001_ses-0001_adc.nii.gz'));
  const ds = await openDataset(root);
  t.deepEqual(
    ds.unlabeled.map((c) => Object.keys(c.images)),
    [['ADC', 'TRACE']],
  );
  const s = await loadSubject(ds.unlabeled[0], { where: ds.source });
  t.is(s.reference, 'TRACE');
});
