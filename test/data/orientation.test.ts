// Orientation codes and reorientation to RAS, against nibabel's aff2axcodes and
// as_closest_canonical on random permuted/flipped/oblique affines and on the real files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { applyAffine, invertAffine, matmul4 } from '../../lib/data/affine.js';
import { readNifti } from '../../lib/data/nifti.js';
import { asClosestCanonical, orientationCode } from '../../lib/data/orientation.js';
import { makeVolume, type Affine, type Shape3, type Volume } from '../../lib/data/volume.js';
import { hasNibabel, nibabelTest, python } from '../helpers/nibabel.js';
import { rng } from '../helpers/random.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

/** A random affine: axes permuted and flipped, rotated up to ±`maxAngle` about each axis, zoomed,
 * a little sheared, translated. */
function randomAffine(r: () => number, maxAngle = (35 * Math.PI) / 180): Affine {
  const perm = [0, 1, 2].sort(() => r() - 0.5);
  const rot = (axis: number, t: number) => {
    const m = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const [a, b] = [0, 1, 2].filter((x) => x !== axis);
    m[a][a] = Math.cos(t);
    m[a][b] = -Math.sin(t);
    m[b][a] = Math.sin(t);
    m[b][b] = Math.cos(t);
    return m;
  };
  const mul = (x: number[][], y: number[][]) => x.map((row) => [0, 1, 2].map((c) => row[0] * y[0][c] + row[1] * y[1][c] + row[2] * y[2][c]));
  let m: number[][] = [0, 1, 2].map((w) => [0, 1, 2].map((c) => (perm[c] === w ? (r() < 0.5 ? -1 : 1) : 0)));
  for (const axis of [0, 1, 2]) m = mul(rot(axis, (2 * r() - 1) * maxAngle), m);
  const shear = [
    [1, 0.1 * (r() - 0.5), 0],
    [0, 1, 0.1 * (r() - 0.5)],
    [0, 0, 1],
  ];
  const zooms = [0, 1, 2].map(() => 0.5 + 2.5 * r());
  m = mul(m, shear).map((row) => row.map((v, c) => v * zooms[c]));
  return [...m.map((row) => [...row, 200 * (r() - 0.5)]), [0, 0, 0, 1]];
}

function randomVolume(r: () => number, shape: Shape3, affine: Affine): Volume {
  const data = Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => Math.round(1000 * r()));
  return makeVolume(data, shape, affine, 'random');
}

const close = (a: number[][], b: number[][], tol = 1e-9) => a.every((row, i) => row.every((x, j) => Math.abs(x - b[i][j]) <= tol));

test('codes of axis-aligned affines', (t) => {
  const diag = (x: number, y: number, z: number): Affine => [
    [x, 0, 0, 0],
    [0, y, 0, 0],
    [0, 0, z, 0],
    [0, 0, 0, 1],
  ];
  t.is(orientationCode(diag(1, 1, 1)), 'RAS');
  t.is(orientationCode(diag(-1, -1, 1)), 'LPS');
  t.is(orientationCode(diag(-2, 3, 0.5)), 'LAS');
  const swapped: Affine = [
    [0, 0, -1, 0],
    [1, 0, 0, 0],
    [0, -1, 0, 0],
    [0, 0, 0, 1],
  ];
  t.is(orientationCode(swapped), 'AIL');
});

test('canonical reorientation keeps every voxel at its world position', (t) => {
  const r = rng(11);
  for (let trial = 0; trial < 20; trial++) {
    const shape: Shape3 = [3 + Math.floor(4 * r()), 3 + Math.floor(4 * r()), 3 + Math.floor(4 * r())];
    const v = randomVolume(r, shape, randomAffine(r));
    const c = asClosestCanonical(v);
    t.is(orientationCode(c.affine), 'RAS');
    t.deepEqual([...c.shape].sort(), [...shape].sort());
    const toCanon = matmul4(invertAffine(c.affine), v.affine);
    for (let i = 0; i < shape[0]; i++) {
      for (let j = 0; j < shape[1]; j++) {
        for (let k = 0; k < shape[2]; k++) {
          const [x, y, z] = applyAffine(toCanon, [i, j, k]).map((u) => Math.round(u));
          const want = v.data[(i * shape[1] + j) * shape[2] + k];
          if (c.data[(x * c.shape[1] + y) * c.shape[2] + z] !== want) {
            t.fail(`trial ${trial}: voxel ${[i, j, k]} moved`);
            return;
          }
        }
      }
    }
    t.deepEqual(c.spacing.map((s) => s.toFixed(9)).sort(), v.spacing.map((s) => s.toFixed(9)).sort());
  }
});

test('an RAS volume is returned as is', (t) => {
  const v = randomVolume(rng(3), [2, 3, 4], [
    [2, 0.1, 0, 5],
    [0, 2, 0, 6],
    [0, 0, 3, 7],
    [0, 0, 0, 1],
  ]);
  t.is(asClosestCanonical(v), v);
});

const NIB_CANONICAL = String.raw`
import json, sys, numpy as np, nibabel as nib
cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    aff = np.array(c['affine'])
    entry = dict(code=''.join(nib.aff2axcodes(aff)))
    if 'data' in c:
        img = nib.Nifti1Image(np.array(c['data'], dtype=np.float32).reshape(c['shape']), aff)
        can = nib.as_closest_canonical(img)
        d = np.asarray(can.dataobj)
        entry.update(shape=list(d.shape), data=d.ravel().tolist(), affine=can.affine.tolist())
    out.append(entry)
print(json.dumps(out))
`;

nibabelTest('codes and canonical volumes match nibabel on random oblique, permuted, flipped affines', (t) => {
  const r = rng(5);
  const cases: { affine: Affine; shape?: Shape3; data?: number[] }[] = [];
  const volumes: Volume[] = [];
  for (let n = 0; n < 300; n++) {
    const affine = randomAffine(r);
    if (n < 40) {
      const v = randomVolume(r, [2 + Math.floor(4 * r()), 2 + Math.floor(4 * r()), 2 + Math.floor(4 * r())], affine);
      volumes.push(v);
      cases.push({ affine, shape: v.shape, data: Array.from(v.data) });
    } else {
      cases.push({ affine });
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-orient-'));
  try {
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
    const theirs = python<{ code: string; shape?: number[]; data?: number[]; affine?: Affine }[]>(NIB_CANONICAL, path.join(dir, 'cases.json'));
    const codes = new Set<string>();
    cases.forEach((c, n) => {
      const code = orientationCode(c.affine);
      codes.add(code);
      t.is(code, theirs[n].code, `affine ${n}`);
    });
    t.true(codes.size >= 24, `many of the 48 orientations were drawn (${codes.size})`);
    volumes.forEach((v, n) => {
      const mine = asClosestCanonical(v);
      t.deepEqual(mine.shape, theirs[n].shape, `volume ${n}`);
      t.deepEqual(Array.from(mine.data), theirs[n].data, `volume ${n}`);
      t.true(close(mine.affine, theirs[n].affine!), `volume ${n} affine`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const NIB_REAL = String.raw`
import json, sys, numpy as np, nibabel as nib
f, out = sys.argv[1], sys.argv[2]
img = nib.load(f)
can = nib.as_closest_canonical(img)
can.get_fdata().astype(np.float32).tofile(out)
print(json.dumps(dict(code=''.join(nib.aff2axcodes(img.affine)), shape=list(can.shape), affine=can.affine.tolist())))
`;

realTest('real files: codes as SOURCES.md and nibabel give, canonical data identical to nibabel', async (t) => {
  const expected: Record<string, string> = { [REAL.adc]: 'LAS', [REAL.t1n2023]: 'LPS', [REAL.label2015]: 'LPS' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-orient-real-'));
  try {
    for (const [rel, code] of Object.entries(expected)) {
      const v = await readNifti(realFile(rel));
      t.is(orientationCode(v.affine), code, rel);
      const c = asClosestCanonical(v);
      t.is(orientationCode(c.affine), 'RAS');
      if (!hasNibabel) continue;
      const raw = path.join(dir, 'canonical.f32');
      const theirs = python<{ code: string; shape: number[]; affine: Affine }>(NIB_REAL, realFile(rel), raw);
      t.is(theirs.code, code, rel);
      t.deepEqual(c.shape, theirs.shape, rel);
      t.true(close(c.affine, theirs.affine), rel);
      const b = fs.readFileSync(raw);
      const want = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      t.true(
        c.data.length === want.length && c.data.every((x, i) => x === want[i]),
        `${rel}: canonical data differ from nibabel's`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
