// The synthetic data set: deterministic bytes, a dataset.json whose every file reads back, sane
// geometry that varies between subjects, a thick-slice FLAIR that covers the same head, infarcts
// that look like infarcts, tissue contrast per sequence, and `amae synth` as a user runs it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CONTRASTS, type ContrastName } from '../../lib/data/contrasts.js';
import { readNifti, readNiftiHeader } from '../../lib/data/nifti.js';
import { orientationCode } from '../../lib/data/orientation.js';
import { resample } from '../../lib/data/resample.js';
import { TISSUES } from '../../lib/data/synth-anatomy.js';
import { SPLIT, synthSubject, writeSynthDataset, type DatasetJson, type SynthSubject } from '../../lib/data/synth.js';
import { makeVolume, type Volume } from '../../lib/data/volume.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/amae.js');

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-synth-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every file under dir, relative, sorted. */
function listFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

const OPTIONS = { subjects: 5, labeled: 3, size: 20, seed: 11 };

test('same seed → identical bytes; another seed → other bytes', async (t) => {
  const [a, b, c] = ['a', 'b', 'c'].map((d) => path.join(tmp, `det-${d}`));
  await writeSynthDataset(a, OPTIONS);
  await writeSynthDataset(b, OPTIONS);
  await writeSynthDataset(c, { ...OPTIONS, seed: 12 });
  const files = listFiles(a);
  t.deepEqual(listFiles(b), files);
  for (const f of files) t.true(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
  const images = files.filter((f) => f.endsWith('_ADC.nii.gz'));
  t.true(images.length >= 3, 'ADC for at least the labelled subjects');
  for (const f of images) t.false(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), `${f} differs between seeds`);
});

test('subject i does not depend on how many subjects are made', (t) => {
  const alone = synthSubject(5, 3, 16, false);
  const again = synthSubject(5, 3, 16, false);
  t.deepEqual(Object.keys(alone.images), Object.keys(again.images));
  for (const [c, v] of Object.entries(alone.images)) t.deepEqual(v.data, again.images[c as ContrastName]!.data);
});

test('dataset.json: spec §5 layout, split, and every file reads back as int16 images and a 0/1 label', async (t) => {
  const dir = path.join(tmp, 'layout');
  const returned = await writeSynthDataset(dir, { subjects: 6, labeled: 5, size: 20, seed: 3 });
  const dataset = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as DatasetJson;
  t.deepEqual(dataset, returned);
  t.is(dataset.name, 'amae-synth');
  t.deepEqual(dataset.contrasts, [...CONTRASTS]);
  // 5 labelled: round(5 · 0.2) = 1 each for validation and test, the rest training.
  t.deepEqual(SPLIT, { training: 0.6, validation: 0.2, test: 0.2 });
  t.deepEqual(
    [dataset.training, dataset.validation, dataset.test, dataset.unlabeled].map((s) => s.map((c) => c.id)),
    [['synth-0001', 'synth-0002', 'synth-0003'], ['synth-0004'], ['synth-0005'], ['synth-0006']],
  );
  for (const c of [...dataset.training, ...dataset.validation, ...dataset.test]) {
    t.truthy(c.images.ADC && c.images.TRACE && c.label, `${c.id}: labelled subjects have ADC, TRACE and a label`);
  }
  for (const c of dataset.unlabeled) t.is(c.label, undefined);

  for (const c of [...dataset.training, ...dataset.validation, ...dataset.test, ...dataset.unlabeled]) {
    const names = Object.keys(c.images) as ContrastName[];
    t.true(names.length >= 1);
    t.deepEqual(names, CONTRASTS.filter((k) => names.includes(k)), 'images in registry order');
    const main = await readNifti(path.join(dir, (c.images.ADC ?? c.images.TRACE ?? c.images.T2 ?? Object.values(c.images)[0])!));
    for (const [name, rel] of Object.entries(c.images)) {
      t.false(path.isAbsolute(rel));
      const v = await readNifti(path.join(dir, rel));
      t.is(v.datatype, 'int16', `${c.id} ${name}`);
      t.true(v.data.every((x) => Number.isInteger(x) && x >= 0), `${c.id} ${name}: non-negative integers`);
      t.true(v.data.some((x) => x > 0));
      const h = await readNiftiHeader(path.join(dir, rel));
      t.like(h, { sclSlope: 1, sclInter: 0, sformCode: 2, qformCode: 1 });
      if (name !== 'FLAIR') {
        t.deepEqual(v.shape, [20, 20, 20]);
        t.deepEqual(v.affine, main.affine, `${c.id} ${name} shares the main grid`);
      }
    }
    if (c.label) {
      const label = await readNifti(path.join(dir, c.label));
      t.is(label.datatype, 'uint8');
      t.deepEqual(label.affine, main.affine);
      t.true(label.data.every((x) => x === 0 || x === 1));
    }
  }
});

test('geometry: S³ grids whose spacing fits a head, in orientations that vary between subjects', (t) => {
  const codes = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const s = synthSubject(21, i, 16, false);
    const v = Object.values(s.images).find((x) => x.shape[2] === 16 && x.shape[0] === 16)!;
    codes.add(orientationCode(v.affine));
    // Field of view per axis 190–260 mm; voxels sized to it.
    for (const mm of v.spacing) t.true(mm * 16 > 185 && mm * 16 < 265, `spacing ${mm}`);
    // The head is in the middle: the centre voxel's world position is within 40 mm of the origin.
    const centre = [0, 1, 2].map((r) => v.affine[r][0] * 7.5 + v.affine[r][1] * 7.5 + v.affine[r][2] * 7.5 + v.affine[r][3]);
    t.true(Math.hypot(...centre) < 40, `FOV centre ${centre}`);
  }
  t.true(codes.size >= 5, `orientations seen: ${[...codes]}`);
});

/** The first labelled subject of `seed` (size 48) whose FLAIR came on its own grid. */
function subjectWithOwnFlair(seed: number): SynthSubject {
  for (let i = 0; i < 40; i++) {
    const s = synthSubject(seed, i, 48, true);
    if (s.images.FLAIR && s.images.FLAIR.shape.join() !== s.images.ADC!.shape.join()) return s;
  }
  throw new Error(`no FLAIR on its own grid among 40 subjects of seed ${seed}`);
}

/** Solves the small dense system A x = b (Gaussian elimination, partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, r) => [...row, b[r]]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    [m[c], m[pivot]] = [m[pivot], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c || m[c][c] === 0) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, r) => (row[r] === 0 ? 0 : row[n] / row[r]));
}

/**
 * How much of an image's variance the ground-truth tissue fractions explain (R² of a least-squares
 * fit of intensity on the fractions), over the voxels where `within` holds.
 */
function explained(image: Float32Array, tissues: SynthSubject['tissues'], within: (p: number) => boolean): number {
  const columns = [...TISSUES.map((t) => tissues.fractions[t]), new Float32Array(image.length).fill(1)];
  const k = columns.length;
  const ata = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const atb = new Array<number>(k).fill(0);
  for (let p = 0; p < image.length; p++) {
    if (!within(p)) continue;
    for (let r = 0; r < k; r++) {
      atb[r] += columns[r][p] * image[p];
      for (let c = 0; c < k; c++) ata[r][c] += columns[r][p] * columns[c][p];
    }
  }
  // A little ridge keeps tissues absent from the region from making the system singular.
  ata.forEach((row, r) => (row[r] += 1e-6));
  const w = solve(ata, atb);
  let n = 0;
  let mean = 0;
  for (let p = 0; p < image.length; p++) if (within(p)) (mean += image[p]), n++;
  mean /= n;
  let residual = 0;
  let total = 0;
  for (let p = 0; p < image.length; p++) {
    if (!within(p)) continue;
    const fit = columns.reduce((s, col, r) => s + w[r] * col[p], 0);
    residual += (image[p] - fit) ** 2;
    total += (image[p] - mean) ** 2;
  }
  return 1 - residual / total;
}

test('a FLAIR on its own thick-slice grid covers the same head as the main grid', (t) => {
  const s = subjectWithOwnFlair(1);
  const flair = s.images.FLAIR!;
  const adc = s.images.ADC!;
  const [n0, n1, n2] = flair.shape;
  t.true(n0 > 48 && n1 > 48 && n2 < 48, `FLAIR grid ${flair.shape}`);
  const [sx, sy, sz] = flair.spacing;
  t.true(Math.abs(sx - sy) < 1e-4 && sz > 3 * sx, `anisotropic spacing ${flair.spacing}`);

  // Resampled onto the main grid through the two affines, the FLAIR should be what the head's
  // ground truth there predicts: its brain where the brain is, its scalp where the scalp is.
  const fit = (moving: Volume) => {
    const onMain = resample(moving, adc, { order: 'linear' });
    const ones = makeVolume(new Float32Array(moving.data.length).fill(1), moving.shape, moving.affine);
    const covered = resample(ones, adc, { order: 'nearest' }).data;
    return explained(onMain.data, s.tissues, (p) => covered[p] === 1);
  };
  const r2 = fit(flair);
  t.log(`R² ${r2.toFixed(3)}`);
  t.true(r2 > 0.75, `R² ${r2.toFixed(3)}`);
  // The check can fail: the same FLAIR 12 mm off does not fit.
  for (const axis of [0, 1, 2]) {
    const shifted = flair.affine.map((row, r) => row.map((x, c) => (c === 3 && r === axis ? x + 12 : x)));
    const off = fit(makeVolume(flair.data, flair.shape, shifted));
    t.log(`R² ${off.toFixed(3)} when shifted along ${'xyz'[axis]}`);
    t.true(off < r2 - 0.15, `R² ${off.toFixed(3)} when shifted along ${'xyz'[axis]}`);
  }
});

/** Mean of `v` over voxels where `mask` holds. */
function meanWhere(v: Float32Array, mask: (p: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let p = 0; p < v.length; p++) {
    if (mask(p)) {
      sum += v[p];
      n++;
    }
  }
  return sum / n;
}

/** Voxels within `r` voxels (Chebyshev) of the label but not in it. */
function ring(label: Volume, r: number): Uint8Array {
  const [n0, n1, n2] = label.shape;
  const out = new Uint8Array(label.data.length);
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++) {
        if (!label.data[(i * n1 + j) * n2 + k]) continue;
        for (let a = Math.max(0, i - r); a <= Math.min(n0 - 1, i + r); a++) {
          for (let b = Math.max(0, j - r); b <= Math.min(n1 - 1, j + r); b++) {
            for (let c = Math.max(0, k - r); c <= Math.min(n2 - 1, k + r); c++) out[(a * n1 + b) * n2 + c] = 1;
          }
        }
      }
    }
  }
  label.data.forEach((x, p) => x && (out[p] = 0));
  return out;
}

test('infarcts: bright in TRACE, dark in ADC, mildly bright in T2 and FLAIR, within the brain', (t) => {
  let checked = 0;
  for (let i = 0; checked < 4 && i < 20; i++) {
    const s = synthSubject(4, i, 40, true);
    const label = s.label!;
    const voxels = label.data.reduce((a, b) => a + b, 0);
    t.true(s.lesions > 0 || voxels === 0, 'no label without an infarct');
    if (voxels < 15) continue;
    checked++;
    const f = s.tissues.fractions;
    const brain = (p: number) => f.gm[p] + f.wm[p] + f.deep[p] > 0.5;
    t.true(label.data.every((x, p) => !x || brain(p)), 'labelled voxels are parenchyma');
    const around = ring(label, 3);
    const inside = (p: number) => label.data[p] === 1;
    const near = (p: number) => around[p] === 1 && brain(p) && s.tissues.lesion[p] === 0;
    const ratio = (c: ContrastName) => meanWhere(s.images[c]!.data, inside) / meanWhere(s.images[c]!.data, near);
    t.true(ratio('TRACE') > 1.3, `${s.id} TRACE ratio ${ratio('TRACE')}`);
    t.true(ratio('ADC') < 0.75, `${s.id} ADC ratio ${ratio('ADC')}`);
    // Mild: compared white matter with white matter, as grey/white mixtures differ between the sets.
    const wmInside = (p: number) => inside(p) && f.wm[p] > 0.7;
    const wmNear = (p: number) => near(p) && f.wm[p] > 0.7;
    for (const c of ['T2', 'FLAIR'] as const) {
      const v = s.images[c];
      if (!v || v.shape.join() !== label.shape.join() || !label.data.some((_, p) => wmInside(p))) continue;
      const r = meanWhere(v.data, wmInside) / meanWhere(v.data, wmNear);
      t.true(r > 1 && r < 1.5, `${s.id} ${c} white-matter ratio ${r}`);
    }
  }
  t.is(checked, 4, 'four subjects with a visible infarct among the first 20');
});

test('tissue contrast per sequence: CSF bright in T2 and ADC, dark in FLAIR and T1; grey vs white as each sequence has it', (t) => {
  // Unlabelled subjects carry random subsets; gather them until every contrast has been seen.
  const seen = new Set<ContrastName>();
  for (let i = 0; seen.size < CONTRASTS.length && i < 40; i++) {
    const s = synthSubject(8, i, 48, false);
    const f = s.tissues.fractions;
    for (const [c, v] of Object.entries(s.images) as [ContrastName, Volume][]) {
      if (v.shape.join() !== s.tissues.shape.join()) continue; // a FLAIR on its own grid
      seen.add(c);
      const csf = meanWhere(v.data, (p) => f.csf[p] > 0.8);
      const wm = meanWhere(v.data, (p) => f.wm[p] > 0.8);
      // Cortex is thinner than these voxels: mostly-grey voxels whose rest is white, not CSF.
      const gm = meanWhere(v.data, (p) => f.gm[p] > 0.5 && f.csf[p] < 0.1);
      const bright: ContrastName[] = ['T2', 'ADC', 'PD', 'GRE', 'SWI'];
      if (bright.includes(c)) t.true(csf > wm, `${s.id} ${c}: CSF ${csf} > WM ${wm}`);
      else t.true(csf < wm, `${s.id} ${c}: CSF ${csf} < WM ${wm}`);
      const whiteBrighter: ContrastName[] = ['T1', 'T1CE', 'SWI'];
      if (whiteBrighter.includes(c)) t.true(wm > gm, `${s.id} ${c}: WM ${wm} > GM ${gm}`);
      else t.true(gm > wm, `${s.id} ${c}: GM ${gm} > WM ${wm}`);
    }
  }
  t.is(seen.size, CONTRASTS.length, `contrasts seen: ${[...seen]}`);
});

test('ADC is stored in 10⁻⁶ mm²/s: white matter near 750, CSF in the thousands', (t) => {
  const s = synthSubject(2, 0, 40, true);
  const f = s.tissues.fractions;
  const adc = s.images.ADC!.data;
  const wm = meanWhere(adc, (p) => f.wm[p] > 0.9 && s.tissues.lesion[p] === 0);
  const csf = meanWhere(adc, (p) => f.csf[p] > 0.9);
  t.true(wm > 650 && wm < 850, `WM ${wm}`);
  t.true(csf > 1800 && csf < 3300, `CSF ${csf}`);
});

function amae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('amae synth writes the data set; bad arguments exit 2 with one line', async (t) => {
  const out = path.join(tmp, 'cli', 'nested');
  fs.writeFileSync(path.join(tmp, 'no-dir-here.txt'), '');
  const [ok, ...bad] = await Promise.all([
    amae('synth', '--out', out, '--subjects', '3', '--labeled', '2', '--size', '16', '--seed', '9'),
    amae('synth', '--subjects', '3'),
    amae('synth', '--out', out, '--subjects', '3', '--labeled', '4'),
    amae('synth', '--out', out, '--size', '12'),
    amae('synth', '--out', out, '--seed=-1'),
    amae('synth', '--out', out, '--subjects', '2.5'),
    amae('synth', '--out', out, '--colour'),
    amae('synth', '--out', path.join(tmp, 'no-dir-here.txt', 'x'), '--subjects', '1', '--size', '16'),
  ]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^wrote 3 subjects of 16³ to .*nested\/dataset\.json in [\d.]+ s: 2 training, 0 validation, 0 test \(labelled\), 1 unlabelled\n$/);
  const dataset = JSON.parse(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8')) as DatasetJson;
  t.is(dataset.training.length + dataset.validation.length + dataset.test.length, 2);
  // The CLI and the library make the same bytes.
  const lib = path.join(tmp, 'cli-lib');
  await writeSynthDataset(lib, { subjects: 3, labeled: 2, size: 16, seed: 9 });
  for (const f of listFiles(lib)) t.true(fs.readFileSync(path.join(lib, f)).equals(fs.readFileSync(path.join(out, f))), f);

  const messages = [
    /^amae synth: --out DIR is required/,
    /^amae synth: --labeled must be an integer from 0 to 3, got '4'\n$/,
    /^amae synth: --size must be an integer from 16 to 256, got '12'\n$/,
    /^amae synth: --seed must be an integer from 0 to 4294967295, got '-1'\n$/,
    /^amae synth: --subjects must be an integer from 1 to 100000, got '2.5'\n$/,
    /^amae synth: Unknown option '--colour'/,
    /^amae synth: cannot write to .*no-dir-here\.txt\/x/,
  ];
  bad.forEach((r, n) => {
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, messages[n]);
    t.is(r.stderr.split('\n').length, 2, 'one line');
  });
});
