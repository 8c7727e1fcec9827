// The synthetic head: a template anatomy built from signed distances (mm) of simple shapes —
// ellipsoids for cerebrum, cerebellum, deep nuclei and face, capsules for brainstem and
// ventricles, offsets of the brain's surface for CSF, skull and scalp — made individual by smooth
// random fields (a warp of the whole head, an uneven brain surface, sulci, cortical thickness,
// skull thickness) and by the head's size and pose in the scanner.
//
// Everything is a function of position in millimetres, sampled at voxel centres with a linear
// partial-volume ramp one voxel wide, so one subject can be sampled on any grid — its main grid or
// a thick-slice FLAIR grid — and the grids agree on where the anatomy is.
//
// Template frame: RAS millimetres with the origin at the centre of the cerebrum.

import { invertAffine, matmul4 } from './affine.js';
import { SmoothField } from './synth-field.js';
import type { LesionModel } from './synth-lesion.js';
import { Random } from '../util/random.js';
import type { Affine, Grid, Shape3, Vec3 } from './volume.js';

/** The tissue classes a voxel is a mixture of (air is what they leave of 1). */
export const TISSUES = ['csf', 'gm', 'wm', 'deep', 'dura', 'bone', 'marrow', 'fat', 'muscle'] as const;
export type Tissue = (typeof TISSUES)[number];
const [CSF, GM, WM, DEEP, DURA, BONE, MARROW, FAT, MUSCLE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

export interface TissueMaps {
  shape: Shape3;
  /** Per tissue, the fraction of each voxel it fills (C-order). */
  fractions: Record<Tissue, Float32Array>;
  /** The fraction of each voxel's parenchyma (gm + wm + deep) that is infarcted. */
  lesion: Float32Array;
}

// Template shapes (mm). Cerebrum: an ellipsoid, taller above its centre than below (temporal
// lobes), slightly wider at the back.
export const CEREBRUM = { lr: 68, ap: 84, up: 62, down: 44 } as const;
export const CEREBELLUM = { centre: [0, -50, -38] as Vec3, radii: [50, 29, 21] as Vec3 };
// The same, as scalars for the inner loop.
const [CBX, CBY, CBZ] = CEREBELLUM.centre;
const [CBRX, CBRY, CBRZ] = CEREBELLUM.radii;
const BRAINSTEM = { top: [0, -14, -8] as Vec3, bottom: [0, -34, -120] as Vec3, rTop: 12, rBottom: 8 };
// The neck: an elliptic cylinder under the skull base.
const NECK = { centre: [0, -28] as [number, number], radii: [46, 52] as [number, number], top: -48 };

// Lateral ventricle of the right hemisphere as chains of capsules (point, radius); the left is its
// mirror image. Frontal horn → body → atrium, which forks into the occipital and temporal horns.
const VENTRICLE_CHAINS: [Vec3, number][][] = [
  [
    [[5, 30, 8], 4.5],
    [[7, 15, 13], 6],
    [[10, -10, 15], 5.5],
    [[17, -30, 9], 7],
    [[17, -50, 4], 3],
  ],
  [
    [[17, -30, 9], 5.5],
    [[27, -18, -10], 3.5],
    [[28, 2, -20], 2],
  ],
];
// Deep grey nuclei of the right hemisphere, centre and radii (mm): thalamus, caudate head, putamen.
const NUCLEI = Float64Array.from([
  ...[9, -14, 3, 8, 13, 9],
  ...[15, 12, 8, 5, 9, 8],
  ...[24, 3, 0, 5.5, 14, 9],
]);

// Lateral ventricles are wider than tall: they are evaluated with x squeezed by this factor.
const VENTRICLE_X = 0.75;

/** Capsule segments, flat for the inner loop: a (3), b − a (3), 1/|b − a|², ra, rb − ra; radii
 * times `scale`, x coordinates times `xScale`. */
function segments(chains: [Vec3, number][][], scale: number, xScale = 1): Float64Array {
  const segs: number[] = [];
  for (const chain of chains) {
    for (let n = 0; n + 1 < chain.length; n++) {
      const [[ax, ay, az], ra] = chain[n];
      const [[bx, by, bz], rb] = chain[n + 1];
      const a = [ax * xScale, ay, az];
      const b = [bx * xScale, by, bz];
      const u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
      segs.push(...a, ...u, 1 / (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), ra * scale, (rb - ra) * scale);
    }
  }
  return Float64Array.from(segs);
}

/** A subject's anatomy: the template made individual. */
export interface Anatomy {
  /** Template mm (before the warp) → world mm: the head's size, pose and position. */
  toWorld: Affine;
  /** Displacement (x, y, z channels, unit variance) scaled by warpMm. */
  warp: SmoothField;
  warpMm: number;
  /** Large-scale unevenness, one channel each: cerebrum surface, cerebellum surface, skull
   * thickness, sulcal depth, cortical thickness. */
  coarse: SmoothField;
  /** Sulcal sheets: the zero set of this field. */
  sulci: SmoothField;
  /** 0 (young) … 1 (old): wider sulci, more CSF outside the brain, larger ventricles. */
  atrophy: number;
  /** Ventricle size (atrophy enlarges them) and their capsules, radii scaled by it. */
  ventricleScale: number;
  ventricles: Float64Array;
  csfMm: number;
  skullMm: number;
  scalpMm: number;
}

// The boxes over which the fields repeat (template mm): the head for the warp and the coarse
// fields, the brain for the sulci — big enough that no repetition shows inside them.
const HEAD_LO: Vec3 = [-120, -150, -140];
const HEAD_HI: Vec3 = [120, 120, 110];
const BRAIN_LO: Vec3 = [-100, -100, -75];
const BRAIN_HI: Vec3 = [100, 100, 85];

function rotation(rx: number, ry: number, rz: number): Affine {
  const [cx, sx, cy, sy, cz, sz] = [Math.cos(rx), Math.sin(rx), Math.cos(ry), Math.sin(ry), Math.cos(rz), Math.sin(rz)];
  const x = [
    [1, 0, 0, 0],
    [0, cx, -sx, 0],
    [0, sx, cx, 0],
    [0, 0, 0, 1],
  ];
  const y = [
    [cy, 0, sy, 0],
    [0, 1, 0, 0],
    [-sy, 0, cy, 0],
    [0, 0, 0, 1],
  ];
  const z = [
    [cz, -sz, 0, 0],
    [sz, cz, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  return matmul4(z, matmul4(y, x));
}

const DEG = Math.PI / 180;

export function randomAnatomy(random: Random): Anatomy {
  const size = random.uniform(0.9, 1.06);
  const scale = [0, 1, 2].map(() => size * random.uniform(0.94, 1.06));
  // Heads lie in the coil tilted a little, mostly nodding (pitch about the left–right axis).
  const pose = rotation(random.uniform(-12, 12) * DEG, random.uniform(-5, 5) * DEG, random.uniform(-6, 6) * DEG);
  const shift = [random.uniform(-6, 6), random.uniform(-8, 8), random.uniform(-6, 6)];
  const scaling: Affine = [
    [scale[0], 0, 0, 0],
    [0, scale[1], 0, 0],
    [0, 0, scale[2], 0],
    [0, 0, 0, 1],
  ];
  const toWorld = matmul4(pose, scaling);
  toWorld.forEach((row, r) => r < 3 && (row[3] = shift[r]));
  const atrophy = random.next() ** 1.5;
  const ventricleScale = 0.8 + 0.8 * atrophy + random.uniform(-0.1, 0.1);
  const field = (name: string, box: [Vec3, Vec3], spacing: number, sigma: number, channels: number) =>
    new SmoothField(new Random(random.uint32(), name), box[0], box[1], spacing, sigma, channels);
  return {
    toWorld,
    warp: field('warp', [HEAD_LO, HEAD_HI], 15, 22, 3),
    warpMm: random.uniform(2, 4.5),
    coarse: field('coarse', [HEAD_LO, HEAD_HI], 8, 10, 5),
    sulci: field('sulci', [BRAIN_LO, BRAIN_HI], 3, 3.6, 1),
    atrophy,
    ventricleScale,
    ventricles: segments(VENTRICLE_CHAINS, ventricleScale, VENTRICLE_X),
    csfMm: 1.2 + 2.5 * atrophy,
    skullMm: random.uniform(5, 7.5),
    scalpMm: random.uniform(4, 8),
  };
}

/** Linear partial volume of a half-space with signed distance d (negative inside) in a voxel of
 * half-width h: exact for a boundary plane across a voxel, and cheap. */
function soft(d: number, h: number): number {
  const f = 0.5 - d / (2 * h);
  return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/** Polynomial smooth minimum: a union of two distance fields with its crease rounded over k mm. */
function smin(a: number, b: number, k: number): number {
  const d = Math.max(k - Math.abs(a - b), 0) / k;
  return Math.min(a, b) - 0.25 * k * d * d;
}

/** Approximate signed distance to an axis-aligned ellipsoid (exact on the surface, a bound off it). */
function ellipsoid(x: number, y: number, z: number, rx: number, ry: number, rz: number): number {
  const u = x / rx;
  const v = y / ry;
  const w = z / rz;
  const k0 = Math.sqrt(u * u + v * v + w * w);
  const u2 = u / rx;
  const v2 = v / ry;
  const w2 = w / rz;
  const k1 = Math.sqrt(u2 * u2 + v2 * v2 + w2 * w2);
  return k1 < 1e-9 ? -Math.min(rx, ry, rz) : (k0 * (k0 - 1)) / k1;
}

/** Signed distance to segment `s` of a flat capsule list (see segments()). */
function capsule(x: number, y: number, z: number, segs: Float64Array, s: number): number {
  const px = x - segs[s];
  const py = y - segs[s + 1];
  const pz = z - segs[s + 2];
  const ux = segs[s + 3];
  const uy = segs[s + 4];
  const uz = segs[s + 5];
  let t = (px * ux + py * uy + pz * uz) * segs[s + 6];
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const dx = px - t * ux;
  const dy = py - t * uy;
  const dz = pz - t * uz;
  return Math.sqrt(dx * dx + dy * dy + dz * dz) - (segs[s + 7] + t * segs[s + 8]);
}

const SEGMENT = 9;
const BRAINSTEM_SEG = segments(
  [
    [
      [BRAINSTEM.top, BRAINSTEM.rTop],
      [BRAINSTEM.bottom, BRAINSTEM.rBottom],
    ],
  ],
  1,
);

/** Where the interhemispheric fissure stops going down (z, mm) at y: on the corpus callosum,
 * which arches over the ventricles between genu and splenium; in front of and behind it the
 * fissure cuts through to the base. */
function fissureFloor(y: number): number {
  const u = Math.abs(y + 2) / 38;
  // Genu and splenium are rounded: past them the floor falls steeply but continuously.
  return u < 1 ? 24 - 6 * u * u : Math.max(-80, 18 - 400 * (u - 1) * (u - 1));
}

const SULCUS_R0 = 60;
const SULCUS_RADIAL = 0.55;

/** Height (z) of the lateral (Sylvian) fissure at |x| = ax, y: from the temporal pole up and
 * back, and up as it goes in towards the insula. */
function sylvianZ(ax: number, y: number): number {
  return -15 - 0.42 * (y - 25) - 0.3 * (ax - 34);
}

// Per-point scratch: the coarse fields' five channels, and one point's tissue fractions.
const coarse = new Float64Array(5);
const local = new Float64Array(TISSUES.length + 1);

/**
 * Evaluates the anatomy at one template point (after the warp), with partial volume over a voxel
 * of half-width h mm, adding each tissue's fraction (and the infarcted parenchyma fraction) into
 * `out` (length TISSUES.length + 1) with weight w.
 */
function addPoint(an: Anatomy, lesions: LesionModel | null, x: number, y: number, z: number, h: number, w: number, out: Float64Array): void {
  local.fill(0);
  head(an, lesions, x, y, z, h, local);
  face(x, y, z, h, local);
  for (let t = 0; t < local.length; t++) out[t] += w * local[t];
}

// The face, in front of and below the skull: soft tissue (the head's skin surface takes it in),
// eyes in orbital fat, and the air of the nasal cavity and the maxillary sinuses. Right side;
// the left mirrors it.
const FACE = { centre: [0, 55, -70] as Vec3, radii: [50, 42, 50] as Vec3 };
const EYE = { centre: [32, 72, -38] as Vec3, radius: 12 };
const ORBIT = { centre: [32, 66, -38] as Vec3, radius: 17 };
const NASAL = { centre: [0, 68, -58] as Vec3, radii: [8, 24, 13] as Vec3 };
const SINUS = { centre: [24, 60, -66] as Vec3, radii: [12, 16, 15] as Vec3 };

function sphere(x: number, y: number, z: number, c: Vec3, r: number): number {
  const dx = x - c[0];
  const dy = y - c[1];
  const dz = z - c[2];
  return Math.sqrt(dx * dx + dy * dy + dz * dz) - r;
}

/** Paints the orbits and the air spaces over whatever `head` put there. */
function face(x: number, y: number, z: number, h: number, tissue: Float64Array): void {
  if (y < 35 || z > -15 || z < -90) return;
  const ax = Math.abs(x);
  const eye = soft(sphere(ax, y, z, EYE.centre, EYE.radius), h);
  const orbit = Math.max(0, soft(sphere(ax, y, z, ORBIT.centre, ORBIT.radius), h) - eye);
  const air = Math.max(
    soft(ellipsoid(x - NASAL.centre[0], y - NASAL.centre[1], z - NASAL.centre[2], ...NASAL.radii), h),
    soft(ellipsoid(ax - SINUS.centre[0], y - SINUS.centre[1], z - SINUS.centre[2], ...SINUS.radii), h),
  );
  const keep = Math.max(0, 1 - eye - orbit - air);
  if (keep === 1) return;
  for (let t = 0; t < tissue.length; t++) tissue[t] *= keep;
  // The vitreous is water, as CSF is; orbital fat is fat.
  tissue[CSF] += eye;
  tissue[FAT] += orbit;
}

/** The head without the face's cavities: brain, CSF, dura, skull, scalp, neck and facial soft
 * tissue, into `out` (fractions summing to at most 1). */
function head(an: Anatomy, lesions: LesionModel | null, x: number, y: number, z: number, h: number, out: Float64Array): void {
  an.coarse.sample(x, y, z, coarse);
  // Brain compartments. Each structure is cut by its neighbour so that they meet across a thin
  // layer (the tentorium between occipital lobe and cerebellum) rather than interpenetrating.
  const rLr = CEREBRUM.lr * (1 - 0.05 * (y / CEREBRUM.ap));
  let sCer = ellipsoid(x, y, z, rLr, CEREBRUM.ap, z >= 0 ? CEREBRUM.up : CEREBRUM.down) + 2.5 * coarse[0];
  const sStem = capsule(x, y, z, BRAINSTEM_SEG, 0);
  let sCbl = ellipsoid(x - CBX, y - CBY, z - CBZ, CBRX, CBRY, CBRZ) + 1.5 * coarse[1];
  sCbl = Math.max(sCbl, 1.5 - sStem);
  sCer = Math.max(sCer, 2.5 - sCbl);
  const sCerStem = smin(sCer, sStem, 6);
  const sHull = smin(sCerStem, sCbl, 12);

  // Head layers outward from the brain: CSF, dura, skull (inner table, marrow, outer table),
  // scalp; under the skull base the neck, muscle inside skin.
  const sSkullOut = sHull - (an.csfMm + an.skullMm + 1.2 * coarse[2]);
  const nx = (x - NECK.centre[0]) / NECK.radii[0];
  const ny = (y - NECK.centre[1]) / NECK.radii[1];
  const sNeck = Math.max((Math.sqrt(nx * nx + ny * ny) - 1) * NECK.radii[0], z - NECK.top);
  const sFace = ellipsoid(x - FACE.centre[0], y - FACE.centre[1], z - FACE.centre[2], FACE.radii[0], FACE.radii[1], FACE.radii[2]);
  const sSkin = smin(smin(sSkullOut - an.scalpMm, sNeck, 20), sFace, 15);
  if (sSkin > h) return;
  const qSkin = soft(sSkin, h);
  const qOut = Math.min(soft(sSkullOut, h), qSkin);
  const qMarrowOut = Math.min(soft(sSkullOut + 1.6, h), qOut);
  const qMarrowIn = Math.min(soft(sHull - an.csfMm - 1.6, h), qMarrowOut);
  const qIc = Math.min(soft(sHull - an.csfMm, h), qMarrowIn);
  const qInner = Math.min(soft(sHull - an.csfMm + 0.8, h), qIc);
  const softTissue = qSkin - qOut;
  const deepSoft = soft(sSkin + an.scalpMm, h);
  out[FAT] += softTissue * (1 - deepSoft);
  out[MUSCLE] += softTissue * deepSoft;
  out[BONE] += qOut - qMarrowOut + (qMarrowIn - qIc);
  out[MARROW] += qMarrowOut - qMarrowIn;
  out[DURA] += qIc - qInner;
  if (qInner <= 0) return;

  // Inside the dura: CSF and parenchyma.
  let csf: number;
  let gm: number;
  let wm: number;
  let deep = 0;
  if (sCbl < sCerStem) {
    // Cerebellum: dense folia (the sulcal field at three times the frequency) down to a
    // white-matter core.
    const t = -sCbl;
    let r = t;
    if (t > -h && t < 14 + h) {
      const g = an.sulci.at(3 * (x - CBX), 3 * (y - CBY), 3 * (z - CBZ));
      r = Math.min(t, Math.abs(g) / (3 * an.sulci.gradRms) + Math.max(0, t - 12) - 0.25);
    }
    csf = soft(r, h);
    wm = soft(1.2 - r, h);
    gm = Math.max(0, 1 - csf - wm);
  } else if (sStem < sCer) {
    // Brainstem and cord: white matter, no cortex.
    wm = soft(sCerStem, h);
    csf = 1 - wm;
    gm = 0;
  } else {
    // Cerebrum: the cortex is a ribbon of grey matter along every CSF boundary — the outer
    // surface, the interhemispheric fissure (down to the corpus callosum), the lateral fissures
    // (in to the insula) and the sulci, which are the zero set of the sulcal field down to a
    // varying depth below any of these surfaces.
    const ax = Math.abs(x);
    const fissureHalf = 0.5 + 0.6 * an.atrophy;
    const fissure = ax + Math.max(0, fissureFloor(y) - z) - fissureHalf;
    const sylvian = Math.abs(z - sylvianZ(ax, y) - 4 * coarse[3]) + Math.max(0, 34 - ax) + Math.max(0, Math.abs(y + 5) - 32) - fissureHalf;
    const t = Math.min(-sCerStem, fissure, sylvian);
    const depth = 17 + 5 * coarse[3];
    const thick = Math.min(3.6, Math.max(2, 2.8 + 0.5 * coarse[4]));
    const sulcusHalf = 0.4 + 0.7 * an.atrophy;
    let r = t;
    if (t < depth + thick + 2 * h) {
      // Sulci run in from the surface: the field is read with distances from the brain's centre
      // squeezed (by SULCUS_RADIAL around a radius of SULCUS_R0), so its zero sheets stand
      // across the cortex rather than lying in it.
      const rad = Math.sqrt(x * x + y * y + z * z) + 1e-9;
      const k = (SULCUS_R0 + SULCUS_RADIAL * (rad - SULCUS_R0)) / rad;
      r = Math.min(r, Math.abs(an.sulci.at(k * x, k * y, k * z)) / an.sulci.gradRms + Math.max(0, t - depth) - sulcusHalf);
    }
    csf = soft(r, h);
    wm = soft(thick - r, h);
    gm = Math.max(0, 1 - csf - wm);
    if (ax < 45 && y > -75 && y < 45 && z > -35 && z < 35) {
      // Deep grey nuclei, then the ventricles, painted over what the cortex model left there.
      let sDeep = Infinity;
      for (let q = 0; q < NUCLEI.length; q += 6) {
        sDeep = Math.min(sDeep, ellipsoid(ax - NUCLEI[q], y - NUCLEI[q + 1], z - NUCLEI[q + 2], NUCLEI[q + 3], NUCLEI[q + 4], NUCLEI[q + 5]));
      }
      deep = soft(sDeep, h);
      csf *= 1 - deep;
      gm *= 1 - deep;
      wm *= 1 - deep;
      // Lateral ventricles (x squeezed, see VENTRICLE_X), kept apart by the septum.
      let sLateral = Infinity;
      const segs = an.ventricles;
      for (let s = 0; s < segs.length; s += SEGMENT) sLateral = Math.min(sLateral, capsule(ax * VENTRICLE_X, y, z, segs, s));
      // The third ventricle: a midline slit between the thalami.
      const sThird = ellipsoid(x, y + 5, z, 1.2 * an.ventricleScale, 11, 9);
      const vent = Math.max(soft(sThird, h), Math.min(soft(sLateral, h), soft(0.8 - ax, h)));
      gm *= 1 - vent;
      wm *= 1 - vent;
      deep *= 1 - vent;
      csf += vent * (1 - csf);
    }
  }
  const scale = qInner;
  out[CSF] += scale * csf;
  out[GM] += scale * gm;
  out[WM] += scale * wm;
  out[DEEP] += scale * deep;
  const parenchyma = gm + wm + deep;
  if (lesions && parenchyma > 0) out[TISSUES.length] += scale * parenchyma * lesions.fraction(x, y, z, h);
}

/**
 * The tissue maps of one subject on a grid. `subsamples` points per voxel along each axis are
 * averaged (thick slices need several along the slice axis for their partial volume); the
 * partial-volume ramp is as wide as the spacing between sample points.
 */
export function sampleTissues(an: Anatomy, lesions: LesionModel | null, grid: Grid, subsamples: Vec3 = [1, 1, 1]): TissueMaps {
  const [n0, n1, n2] = grid.shape;
  const n = n0 * n1 * n2;
  const out = new Float64Array(TISSUES.length + 1);
  const maps = TISSUES.map(() => new Float32Array(n));
  const lesion = new Float32Array(n);
  // Voxel index → template (pre-warp) mm, in one affine.
  const m = matmul4(invertAffine(an.toWorld), grid.affine);
  const colNorm = (c: number) => Math.hypot(m[0][c], m[1][c], m[2][c]);
  const step = [0, 1, 2].map((c) => colNorm(c) / subsamples[c]);
  const h = 0.5 * Math.cbrt(step[0] * step[1] * step[2]);
  // Sub-sample offsets (voxel units) as one flat list of (di, dj, dk).
  const offsets: number[] = [];
  const centred = (q: number, count: number) => (q + 0.5) / count - 0.5;
  for (let a = 0; a < subsamples[0]; a++) {
    for (let b = 0; b < subsamples[1]; b++) {
      for (let c = 0; c < subsamples[2]; c++) offsets.push(centred(a, subsamples[0]), centred(b, subsamples[1]), centred(c, subsamples[2]));
    }
  }
  const weight = 3 / offsets.length;
  const amp = an.warpMm;
  const [[m00, m01, m02, m03], [m10, m11, m12, m13], [m20, m21, m22, m23]] = m;
  const warp = new Float64Array(3);
  let idx = 0;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++, idx++) {
        out.fill(0);
        for (let o = 0; o < offsets.length; o += 3) {
          const u = i + offsets[o];
          const v = j + offsets[o + 1];
          const s = k + offsets[o + 2];
          const px = m00 * u + m01 * v + m02 * s + m03;
          const py = m10 * u + m11 * v + m12 * s + m13;
          const pz = m20 * u + m21 * v + m22 * s + m23;
          // Far outside any head: air, without sampling the warp.
          if (px * px + py * py + (pz > 0 ? pz * pz : 0) > 140 * 140) continue;
          an.warp.sample(px, py, pz, warp);
          addPoint(an, lesions, px + amp * warp[0], py + amp * warp[1], pz + amp * warp[2], h, weight, out);
        }
        for (let t = 0; t < TISSUES.length; t++) maps[t][idx] = out[t];
        lesion[idx] = out[TISSUES.length];
      }
    }
  }
  // Stored as a fraction of the parenchyma, which is what the contrasts need.
  for (let p = 0; p < n; p++) {
    const par = maps[GM][p] + maps[WM][p] + maps[DEEP][p];
    lesion[p] = par > 0 ? Math.min(1, lesion[p] / par) : 0;
  }
  return { shape: [n0, n1, n2], fractions: Object.fromEntries(TISSUES.map((t, q) => [t, maps[q]])) as Record<Tissue, Float32Array>, lesion };
}
