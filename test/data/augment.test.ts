// Augmentation: crops of the ROI's shape (padded where the volume is smaller), lesion-centred crops
// that hold a lesion voxel, one spatial transform for every contrast and the label, intensity
// changes within ±10 % on the foreground only, and modality dropout that never leaves a subject
// without a contrast.
import test from 'ava';
import {
  augmentSample,
  centredCropStart,
  droppedContrasts,
  extractCrop,
  INTENSITY_RANGE,
  lesionVoxels,
  randomCropStart,
  type AugmentSource,
} from '../../lib/data/augment.js';
import { CONTRASTS, type ContrastName } from '../../lib/data/contrasts.js';
import { Random } from '../../lib/util/random.js';
import type { Shape3, Vec3 } from '../../lib/data/volume.js';
import { rng } from '../helpers/random.js';

const SHAPE: Shape3 = [24, 20, 18];
const at = ([i, j, k]: Vec3, [, n1, n2]: Shape3) => (i * n1 + j) * n2 + k;

/**
 * A subject whose voxel values say where they came from: contrast c holds (c + 1)·code(i, j, k)
 * with code = 1 + i + 100 j + 10000 k (never 0, unique per voxel), so a cropped, flipped voxel's
 * source can be read off it; the label marks a small lesion, or follows `label`.
 */
function source(names: ContrastName[], opts: { shape?: Shape3; lesion?: (v: Vec3) => boolean } = {}): AugmentSource {
  const shape = opts.shape ?? SHAPE;
  const n = shape[0] * shape[1] * shape[2];
  const inLesion = opts.lesion ?? ((v: Vec3) => Math.hypot(v[0] - 4, v[1] - 15, v[2] - 3) < 1.5);
  const contrasts = names.map((name, c) => ({ id: CONTRASTS.indexOf(name), name, data: new Float32Array(n) }));
  const label = new Uint8Array(n);
  for (let i = 0; i < shape[0]; i++) {
    for (let j = 0; j < shape[1]; j++) {
      for (let k = 0; k < shape[2]; k++) {
        const m = at([i, j, k], shape);
        contrasts.forEach((c, ci) => (c.data[m] = (ci + 1) * (1 + i + 100 * j + 10000 * k)));
        if (inLesion([i, j, k])) label[m] = 1;
      }
    }
  }
  return { id: 's', contrasts, shape, label, lesion: lesionVoxels(label) };
}

/** The source voxel of a code value (see source()). */
function decode(code: number): Vec3 {
  const c = code - 1;
  return [c % 100, Math.floor(c / 100) % 100, Math.floor(c / 10000)];
}

test('extractCrop matches a voxel-by-voxel reference, inside, past the edges and flipped', (t) => {
  const src = source(['T2']);
  const data = src.contrasts[0].data;
  const r = rng(3);
  for (let trial = 0; trial < 40; trial++) {
    const roi = [1, 2, 3].map(() => 1 + Math.floor(r() * 30)) as Shape3;
    const start = SHAPE.map((n) => Math.floor(r() * (n + 20)) - 10) as Vec3;
    const flips = [r() < 0.5, r() < 0.5, r() < 0.5];
    const out = extractCrop(data, SHAPE, start, roi, flips);
    let bad = -1;
    for (let i = 0, m = 0; i < roi[0]; i++) {
      for (let j = 0; j < roi[1]; j++) {
        for (let k = 0; k < roi[2]; k++, m++) {
          const s = [i, j, k].map((x, a) => start[a] + (flips[a] ? roi[a] - 1 - x : x)) as Vec3;
          const inside = s.every((x, a) => x >= 0 && x < SHAPE[a]);
          if (out[m] !== (inside ? data[at(s, SHAPE)] : 0) && bad < 0) bad = m;
        }
      }
    }
    t.is(bad, -1, `roi [${roi}] start [${start}] flips [${flips}]: first wrong output voxel ${bad}`);
  }
});

test('crops have the ROI shape; a volume smaller than the ROI is padded with zeros, centred', (t) => {
  const src = source(['ADC', 'TRACE'], { shape: [10, 20, 18] });
  const roi: Shape3 = [15, 16, 16];
  for (const crops of ['random', 'lesion-random'] as const) {
    for (let seed = 0; seed < 10; seed++) {
      const s = augmentSample(src, roi, { crops }, new Random(seed));
      t.deepEqual(s.shape, roi);
      for (const c of s.contrasts) t.is(c.data.length, 15 * 16 * 16);
      t.is(s.label!.length, 15 * 16 * 16);
      // Axis 0: 10 voxels in 15, padded 2 before and 3 after (MONAI's SpatialPad).
      const plane = (i: number) => s.contrasts[0].data.subarray(i * 256, (i + 1) * 256);
      for (const i of [0, 1, 12, 13, 14]) t.true(plane(i).every((x) => x === 0), `plane ${i} is padding`);
      for (let i = 2; i < 12; i++) t.is(decode(plane(i)[0])[0], i - 2);
    }
  }
  t.deepEqual(randomCropStart([10, 20, 18], roi, new Random(1)).slice(0, 1), [-2]);
  t.deepEqual(augmentSample(src, undefined, { crops: 'none' }, new Random(0)).shape, [10, 20, 18]);
});

test('lesion-centred crops contain a lesion voxel; about half of lesion-random crops are centred', (t) => {
  const src = source(['TRACE']);
  const roi: Shape3 = [8, 8, 8];
  // Every lesion voxel, at a corner of the volume or not, lies inside the crop centred on it.
  for (const m of src.lesion) {
    const [n1, n2] = [SHAPE[1], SHAPE[2]];
    const v: Vec3 = [Math.floor(m / (n1 * n2)), Math.floor(m / n2) % n1, m % n2];
    const start = centredCropStart(SHAPE, roi, v);
    t.true(v.every((x, a) => x >= start[a] && x < start[a] + roi[a] && start[a] >= 0 && start[a] + roi[a] <= SHAPE[a]));
  }
  const hits = (crops: 'random' | 'lesion-random') => {
    let n = 0;
    for (let seed = 0; seed < 400; seed++) if (augmentSample(src, roi, { crops, flips: true }, new Random(seed)).label!.some((x) => x > 0)) n++;
    return n / 400;
  };
  // The lesion (7 voxels near a corner) is rarely met by chance; lesion-random crops meet it in
  // their centred half at least.
  const byChance = hits('random');
  const lesionRandom = hits('lesion-random');
  t.true(byChance < 0.15, `random crops hit the lesion ${byChance}`);
  t.true(lesionRandom > 0.4 && lesionRandom < 0.65, `lesion-random crops hit the lesion ${lesionRandom}`);
  // No lesion: random crops, no error.
  const empty = source(['TRACE'], { lesion: () => false });
  t.is(empty.lesion.length, 0);
  t.deepEqual(augmentSample(empty, roi, { crops: 'lesion-random' }, new Random(2)).shape, roi);
});

test('flips and crops are the same for every contrast and the label, and every flip occurs', (t) => {
  // The label is a function of the voxel's position that no flip maps onto itself, so its crop
  // must agree with the positions the contrasts' values decode to.
  const src = source(['ADC', 'T2', 'FLAIR'], { lesion: ([i, j, k]) => (i + 2 * j + 3 * k) % 5 === 0 });
  const roi: Shape3 = [10, 12, 9];
  const seen = new Set<string>();
  for (let seed = 0; seed < 60; seed++) {
    const s = augmentSample(src, roi, { crops: 'lesion-random', flips: true }, new Random(seed));
    const a = s.contrasts[0].data;
    const origin = decode(a[0]);
    // Which axes run backwards: the voxel one step along each axis comes from one step back.
    const flips = [roi[1] * roi[2], roi[2], 1].map((step, axis) => decode(a[step])[axis] < origin[axis]);
    seen.add(flips.join());
    let bad = '';
    for (let m = 0; m < a.length && !bad; m++) {
      const v = decode(a[m]);
      if (s.contrasts[1].data[m] !== 2 * a[m] || s.contrasts[2].data[m] !== 3 * a[m]) bad = `contrasts differ at ${m}`;
      else if (s.label![m] !== ((v[0] + 2 * v[1] + 3 * v[2]) % 5 === 0 ? 1 : 0)) bad = `label differs at ${m}`;
    }
    t.is(bad, '', `seed ${seed}`);
  }
  t.is(seen.size, 8, `flip combinations seen: ${[...seen].join(' | ')}`);
});

test('intensity: x·(1 + f) + o per contrast with |f|, |o| ≤ 0.1, on the foreground only; the source is untouched', (t) => {
  // Values around a z-score's range, with a zero background.
  const src = source(['ADC', 'TRACE', 'T2']);
  for (const c of src.contrasts) for (let m = 0; m < c.data.length; m++) c.data[m] = m % 7 === 0 ? 0 : ((c.data[m] % 997) - 498) / 200;
  const before = src.contrasts.map((c) => c.data.slice());
  const factors = new Set<number>();
  for (let seed = 0; seed < 20; seed++) {
    const s = augmentSample(src, undefined, { crops: 'none', intensity: true }, new Random(seed));
    s.contrasts.forEach((c, ci) => {
      const x = before[ci];
      // Two foreground voxels give the factor and offset; every other voxel must follow them.
      const [p, q] = [1, 2];
      const scale = (c.data[q] - c.data[p]) / (x[q] - x[p]);
      const shift = c.data[p] - scale * x[p];
      t.true(Math.abs(scale - 1) <= INTENSITY_RANGE + 1e-5 && Math.abs(shift) <= INTENSITY_RANGE + 1e-5, `scale ${scale}, shift ${shift}`);
      factors.add(Math.round(scale * 1e4));
      let bad = -1;
      for (let m = 0; m < x.length && bad < 0; m++) {
        const want = x[m] === 0 ? 0 : x[m] * scale + shift;
        if (Math.abs(c.data[m] - want) > 1e-4) bad = m;
      }
      t.is(bad, -1);
    });
  }
  // Drawn per contrast and per sample.
  t.true(factors.size > 50);
  src.contrasts.forEach((c, ci) => t.deepEqual(c.data, before[ci]));
});

test('modality dropout never drops the last contrast; zeroFill keeps the dropped slots as zeros', (t) => {
  const three = source(['ADC', 'TRACE', 'T2']);
  const one = source(['FLAIR']);
  const kept = new Map<number, number>();
  for (let seed = 0; seed < 300; seed++) {
    const all = augmentSample(three, undefined, { crops: 'none', modalityDropout: { p: 1 } }, new Random(seed));
    t.is(all.contrasts.length, 1);
    kept.set(all.contrasts[0].id, (kept.get(all.contrasts[0].id) ?? 0) + 1);

    const half = augmentSample(three, undefined, { crops: 'none', modalityDropout: { p: 0.5 } }, new Random(seed));
    t.true(half.contrasts.length >= 1);
    // Survivors keep their registry order and their data.
    t.deepEqual(
      half.contrasts.map((c) => c.id),
      three.contrasts.map((c) => c.id).filter((id) => half.contrasts.some((c) => c.id === id)),
    );

    const filled = augmentSample(three, undefined, { crops: 'none', modalityDropout: { p: 0.5, zeroFill: true } }, new Random(seed));
    t.deepEqual(
      filled.contrasts.map((c) => c.id),
      three.contrasts.map((c) => c.id),
    );
    const live = filled.contrasts.filter((c) => c.data.some((x) => x !== 0));
    t.true(live.length >= 1);
    for (const c of filled.contrasts) t.is(c.data.length, three.contrasts[0].data.length);

    t.is(augmentSample(one, undefined, { crops: 'none', modalityDropout: { p: 1 } }, new Random(seed)).contrasts.length, 1);
  }
  // With p = 1, the one kept is uniform over the three.
  for (const c of three.contrasts) t.true((kept.get(c.id) ?? 0) > 60, `kept ${c.name} ${kept.get(c.id)} times`);
  t.deepEqual(droppedContrasts(3, 0, new Random(1)), [false, false, false]);
});

test('a random stream gives one sample: same stream, same sample', (t) => {
  const src = source(['ADC', 'TRACE']);
  const options = { crops: 'lesion-random', flips: true, intensity: true, modalityDropout: { p: 0.3 } } as const;
  const a = augmentSample(src, [8, 8, 8], options, new Random(5, 2, 1, 3));
  const b = augmentSample(src, [8, 8, 8], options, new Random(5, 2, 1, 3));
  const c = augmentSample(src, [8, 8, 8], options, new Random(5, 2, 1, 4));
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
});

test('bad augmentation options fail with the option named', (t) => {
  const src = source(['ADC']);
  t.throws(() => augmentSample(src, undefined, { crops: 'random' }, new Random(0)), { message: /crops 'random' needs an roi/ });
  t.throws(() => augmentSample(src, [8, 8, 8], { modalityDropout: { p: 1.5 } }, new Random(0)), { message: /modalityDropout\.p 1\.5/ });
});
