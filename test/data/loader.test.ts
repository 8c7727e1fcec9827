// The loader: reproducible batches whatever the number of workers and the prefetch depth, subjects
// with different contrasts in one batch, the cache sparing later epochs the decoding, errors that
// name the bad file and end the iteration, and workers that never outlive it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createLoader, SubjectCache, type Batch, type LoaderOptions } from '../../lib/data/loader.js';
import { writeNifti } from '../../lib/data/nifti.js';
import { CaseError, type SubjectSpec } from '../../lib/data/subject.js';
import { makeVolume, type Affine, type Shape3 } from '../../lib/data/volume.js';
import { rng } from '../helpers/random.js';

const SHAPE: Shape3 = [22, 26, 18];
const AFFINE: Affine = [
  [1, 0, 0, -11],
  [0, 1, 0, -13],
  [0, 0, 1, -9],
  [0, 0, 0, 1],
];
const ROI: Shape3 = [16, 16, 16];
// Keep the 1 mm grid, patch 8: prepared subjects of a few thousand voxels.
const PREPROCESS = { spacing: null, patchSize: 8 };

let tmp = '';
let cases: SubjectSpec[] = [];

/** A head (ellipsoid) of noisy tissue, a contrast-specific level, and a lesion per subject. */
async function writeCase(id: string, contrasts: string[], seed: number, labelled = true): Promise<SubjectSpec> {
  const r = rng(seed);
  const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const centre = [6 + Math.floor(r() * 10), 8 + Math.floor(r() * 10), 5 + Math.floor(r() * 8)];
  const head = new Uint8Array(n);
  const lesion = new Float32Array(n);
  for (let i = 0, m = 0; i < SHAPE[0]; i++) {
    for (let j = 0; j < SHAPE[1]; j++) {
      for (let k = 0; k < SHAPE[2]; k++, m++) {
        head[m] = ((i - 11) / 9.5) ** 2 + ((j - 13) / 11.5) ** 2 + ((k - 9) / 7.5) ** 2 < 1 ? 1 : 0;
        lesion[m] = head[m] && Math.hypot(i - centre[0], j - centre[1], k - centre[2]) < 2.5 ? 1 : 0;
      }
    }
  }
  const images: Record<string, string> = {};
  for (const [c, name] of contrasts.entries()) {
    const data = new Float32Array(n);
    for (let m = 0; m < n; m++) if (head[m]) data[m] = 100 * (c + 1) + 40 * r() + 60 * lesion[m];
    const file = path.join(tmp, `${id}_${name}.nii.gz`);
    await writeNifti(file, makeVolume(data, SHAPE, AFFINE));
    images[name] = file;
  }
  const spec: SubjectSpec = { id, images };
  if (labelled) {
    spec.label = path.join(tmp, `${id}_label.nii.gz`);
    await writeNifti(spec.label, makeVolume(lesion, SHAPE, AFFINE), { datatype: 'uint8' });
  }
  return spec;
}

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-loader-'));
  cases = await Promise.all([
    writeCase('s1', ['ADC', 'TRACE', 'T2'], 1),
    writeCase('s2', ['TRACE'], 2),
    writeCase('s3', ['ADC', 'TRACE'], 3),
    writeCase('s4', ['FLAIR'], 4, false),
    writeCase('s5', ['ADC', 'TRACE', 'FLAIR'], 5),
  ]);
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TRAINING: LoaderOptions = {
  roi: ROI,
  batchSize: 2,
  shuffle: true,
  seed: 7,
  epochs: 2,
  augment: { crops: 'lesion-random', flips: true, intensity: true, modalityDropout: { p: 0.4 } },
  preprocess: PREPROCESS,
};

async function collect(options: LoaderOptions, list = cases): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of createLoader(list, options)) batches.push(batch);
  return batches;
}

/** A digest of everything a batch carries: ids, contrast ids, shapes, voxels, labels. */
function digest(batches: Batch[]): string {
  const h = createHash('sha256');
  for (const b of batches) {
    h.update(`${b.epoch}/${b.index}`);
    for (const s of b.subjects) {
      h.update(`${s.id} [${s.shape}] ${s.contrasts.map((c) => `${c.id}:${c.name}`).join(',')}`);
      for (const c of s.contrasts) h.update(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength));
      if (s.label) h.update(s.label);
    }
  }
  return h.digest('hex');
}

test('the same seed gives the same batches with 1 or 2 workers, any prefetch, with or without the cache', async (t) => {
  const one = await collect({ ...TRAINING, workers: 1, prefetch: 0 });
  const two = await collect({ ...TRAINING, workers: 2, prefetch: 3 });
  const uncached = await collect({ ...TRAINING, workers: 2, prefetch: 1, cache: 'none' });
  t.is(one.length, 6);
  t.deepEqual(
    one.map((b) => `${b.epoch}/${b.index}:${b.subjects.length}`),
    ['0/0:2', '0/1:2', '0/2:1', '1/0:2', '1/1:2', '1/2:1'],
  );
  t.is(digest(two), digest(one));
  t.is(digest(uncached), digest(one));
  // Shuffled: each epoch has every case once, in different orders.
  const order = (e: number) => one.filter((b) => b.epoch === e).flatMap((b) => b.subjects.map((s) => s.id));
  t.deepEqual([...order(0)].sort(), ['s1', 's2', 's3', 's4', 's5']);
  t.deepEqual([...order(1)].sort(), ['s1', 's2', 's3', 's4', 's5']);
  t.notDeepEqual(order(0), order(1));
  t.not(digest(await collect({ ...TRAINING, seed: 8, workers: 1 })), digest(one));
});

test('a resumed run (startEpoch) gets the batches the uninterrupted run had', async (t) => {
  const full = await collect({ ...TRAINING, epochs: 2 });
  const resumed = await collect({ ...TRAINING, epochs: 2, startEpoch: 1 });
  t.is(digest(resumed), digest(full.filter((b) => b.epoch === 1)));
});

test('a batch mixes subjects with 1, 2 and 3 contrasts; crops have the ROI shape; labels where given', async (t) => {
  const [batch] = await collect({ roi: ROI, batchSize: 5, augment: { crops: 'lesion-random', flips: true }, preprocess: PREPROCESS, workers: 2 });
  t.deepEqual(
    batch.subjects.map((s) => [s.id, s.contrasts.map((c) => c.name)]),
    [
      ['s1', ['ADC', 'TRACE', 'T2']],
      ['s2', ['TRACE']],
      ['s3', ['ADC', 'TRACE']],
      ['s4', ['FLAIR']],
      ['s5', ['ADC', 'TRACE', 'FLAIR']],
    ],
  );
  t.deepEqual(
    batch.subjects.map((s) => s.contrasts.map((c) => c.id)),
    [[0, 1, 2], [1], [0, 1], [6], [0, 1, 6]],
  );
  for (const s of batch.subjects) {
    t.deepEqual(s.shape, ROI);
    for (const c of s.contrasts) {
      t.true(c.data instanceof Float32Array);
      t.is(c.data.length, 16 ** 3);
    }
    t.is(s.label?.length, s.id === 's4' ? undefined : 16 ** 3);
  }
  // Without crops: whole prepared volumes, multiples of the patch size.
  const [whole] = await collect({ batchSize: 5, preprocess: PREPROCESS, workers: 1 });
  for (const s of whole.subjects) t.true(s.shape.every((n) => n % 8 === 0 && n >= 16), `[${s.shape}]`);
});

test('the cache reads each subject once; without it every epoch reads them again; a shared cache serves other loaders', async (t) => {
  const options = { ...TRAINING, epochs: 3, workers: 2 };
  const cached = createLoader(cases, options);
  for await (const batch of cached) t.true(batch.subjects.length > 0);
  t.deepEqual(cached.stats, { decoded: 5, cacheHits: 10, workers: 0 });

  const uncached = createLoader(cases, { ...options, cache: 'none' });
  for await (const batch of uncached) t.true(batch.subjects.length > 0);
  t.deepEqual(uncached.stats, { decoded: 15, cacheHits: 0, workers: 0 });

  const shared = new SubjectCache();
  const first = createLoader(cases, { ...options, epochs: 1, cache: shared });
  for await (const batch of first) t.true(batch.subjects.length > 0);
  const second = createLoader(cases, { ...options, augment: {}, cache: shared });
  for await (const batch of second) t.true(batch.subjects.length > 0);
  t.deepEqual([first.stats.decoded, second.stats.decoded, second.stats.cacheHits, shared.size], [5, 0, 15, 5]);
  // Other preprocessing is another entry.
  const other = createLoader(cases, { ...options, epochs: 1, preprocess: { ...PREPROCESS, clip: [1, 99] }, cache: shared });
  for await (const batch of other) t.true(batch.subjects.length > 0);
  t.is(other.stats.decoded, 5);
});

test('a corrupt file rejects next() with an error naming the case and the file, and ends the iteration', async (t) => {
  const corrupt = path.join(tmp, 'corrupt_TRACE.nii.gz');
  fs.writeFileSync(corrupt, Buffer.from('this is not a gzip stream, nor a NIfTI header'));
  const list = [...cases.slice(0, 3), { id: 'bad', images: { ADC: cases[0].images.ADC, TRACE: corrupt } }, ...cases.slice(3)];
  const loader = createLoader(list, { ...TRAINING, shuffle: false, epochs: 1, workers: 2, prefetch: 4, load: { where: 'data/dataset.json' } });
  const seen: string[] = [];
  const error = await t.throwsAsync(async () => {
    for await (const batch of loader) seen.push(...batch.subjects.map((s) => s.id));
  });
  t.true(error instanceof CaseError, error?.name);
  t.regex(error!.message, /^data\/dataset\.json: case 'bad', images\.TRACE: /);
  t.true(error!.message.includes(corrupt), error!.message);
  // Batches before the bad one arrive, in order; none after it.
  t.deepEqual(seen, ['s1', 's2']);
  t.is(loader.stats.workers, 0);

  const unknown = createLoader([{ id: 'odd', images: { ADC: cases[0].images.ADC, T3: cases[0].images.ADC } }], { preprocess: PREPROCESS });
  await t.throwsAsync(async () => {
    for await (const batch of unknown) t.fail(`no batch expected, got ${batch.subjects.length}`);
  }, { message: /case 'odd', images\.T3: unknown contrast 'T3'/ });
});

test('break and close() terminate the workers; a loader left mid-iteration does not keep the process alive', async (t) => {
  const loader = createLoader(cases, { ...TRAINING, epochs: Infinity, workers: 2, cache: 'none' });
  let n = 0;
  for await (const batch of loader) {
    t.true(batch.subjects.length > 0);
    t.true(loader.stats.workers > 0);
    if (++n === 2) break;
  }
  t.is(loader.stats.workers, 0);

  // close() from outside ends the iteration: the next call reports the end, not an error.
  const iterator = loader[Symbol.asyncIterator]();
  t.false((await iterator.next()).done);
  await loader.close();
  t.is(loader.stats.workers, 0);
  t.true((await iterator.next()).done);

  // A process that breaks out of an endless loader, and one that just stops asking for batches,
  // both end by themselves.
  const script = (body: string) => `
    const { createLoader } = await import(${JSON.stringify(new URL('../../lib/data/loader.ts', import.meta.url).href)});
    const loader = createLoader(${JSON.stringify(cases)}, { roi: [16, 16, 16], epochs: Infinity, workers: 2, prefetch: 3, cache: 'none', preprocess: ${JSON.stringify(PREPROCESS)} });
    ${body}
    console.log('done');`;
  const run = (code: string) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], { timeout: 30_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message} (killed: ${err.killed})\n${stderr}`)) : resolve(stdout.trim()),
      ),
    );
  const [broke, abandoned] = await Promise.all([
    run(script('for await (const batch of loader) break;')),
    run(script('await loader[Symbol.asyncIterator]().next();')),
  ]);
  t.is(broke, 'done');
  t.is(abandoned, 'done');
});

test('bad options fail at once, naming the option', (t) => {
  t.throws(() => createLoader([], {}), { message: /at least one case/ });
  t.throws(() => createLoader(cases, { batchSize: 0 }), { message: /batchSize 0/ });
  t.throws(() => createLoader(cases, { roi: [16, 16] as unknown as Shape3 }), { message: /roi \[16,16\]/ });
  t.throws(() => createLoader(cases, { augment: { crops: 'lesion-random' } }), { message: /needs an roi/ });
  t.throws(() => createLoader(cases, { epochs: 2, startEpoch: 2 }), { message: /startEpoch 2/ });
  t.throws(() => createLoader(cases, { workers: 1.5 }), { message: /workers 1\.5/ });
});
