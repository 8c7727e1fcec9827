// Synthetic infarcts: smooth irregular blobs placed where strokes happen — mostly in the territory
// of one middle, anterior or posterior cerebral artery, sometimes a small deep (lacunar) or
// cerebellar infarct, embolic ones with small satellites. Shapes live in the template frame, so
// they follow the subject's warp like the rest of the anatomy; the anatomy keeps only their
// parenchymal part, so a blob that reaches into CSF or skull infarcts only the brain it covers.

import { CEREBELLUM, CEREBRUM } from './synth-anatomy.js';
import type { SmoothField } from './synth-field.js';
import type { Random } from '../util/random.js';
import type { Vec3 } from './volume.js';

interface Blob {
  centre: Vec3;
  /** Rows: the blob's principal axes divided by their radii, so |axes·(p − centre)| = 1 on it. */
  axes: Vec3[];
  /** Mean radius (mm): turns the ellipsoidal radius into millimetres. */
  radius: number;
  /** Squared distance beyond which the blob cannot reach (bounding sphere). */
  reach2: number;
  /** Boundary irregularity (mm) and where in the irregularity fields this blob reads. */
  roughMm: number;
  offset: Vec3;
}

/** A subject's infarcts, evaluated at template points. */
export class LesionModel {
  constructor(
    private readonly blobs: Blob[],
    private readonly fine: SmoothField,
    private readonly coarse: SmoothField,
  ) {}

  /** How much of a voxel of half-width h at template point (x, y, z) is infarcted (0–1). */
  fraction(x: number, y: number, z: number, h: number): number {
    let f = 0;
    for (const b of this.blobs) {
      const dx = x - b.centre[0];
      const dy = y - b.centre[1];
      const dz = z - b.centre[2];
      if (dx * dx + dy * dy + dz * dz > b.reach2) continue;
      const a0 = b.axes[0];
      const a1 = b.axes[1];
      const a2 = b.axes[2];
      const e0 = a0[0] * dx + a0[1] * dy + a0[2] * dz;
      const e1 = a1[0] * dx + a1[1] * dy + a1[2] * dz;
      const e2 = a2[0] * dx + a2[1] * dy + a2[2] * dz;
      const rho = Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
      const ox = b.offset[0];
      const oy = b.offset[1];
      const oz = b.offset[2];
      const d =
        (rho - 1) * b.radius +
        b.roughMm * (0.6 * this.fine.at(x + ox, y + oy, z + oz) + 0.8 * this.coarse.at(x - ox, y - oy, z - oz));
      const g = 0.5 - d / (2 * h);
      if (g > f) f = g >= 1 ? 1 : g;
    }
    return f;
  }
}

/** A random rotation (rows are an orthonormal frame), from a uniformly random unit quaternion. */
function randomFrame(random: Random): Vec3[] {
  const q = [random.normal(), random.normal(), random.normal(), random.normal()];
  const n = Math.hypot(...q);
  const [a, b, c, d] = q.map((v) => v / n);
  return [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
  ];
}

function blob(random: Random, centre: Vec3, radius: number): Blob {
  const radii = [radius * random.uniform(0.6, 1), radius * random.uniform(0.8, 1.2), radius * random.uniform(0.9, 1.4)];
  const frame = randomFrame(random);
  const roughMm = Math.min(6, 0.3 * radius + 0.5);
  const reach = Math.max(...radii) + 2.5 * roughMm + 4;
  // Far enough apart in the fields (correlation lengths 4–10 mm) to give each blob its own shape.
  const offset: Vec3 = [random.uniform(-40, 40), random.uniform(-40, 40), random.uniform(-40, 40)];
  return { centre, axes: frame.map((row, r) => row.map((v) => v / radii[r]) as Vec3), radius, reach2: reach * reach, roughMm, offset };
}

/** Where on the lateral convexity of the right cerebrum (x > 0) the surface is at (y, z). */
function convexityX(y: number, z: number): number {
  const c = z >= 0 ? CEREBRUM.up : CEREBRUM.down;
  return CEREBRUM.lr * Math.sqrt(Math.max(0.05, 1 - (y / CEREBRUM.ap) ** 2 - (z / c) ** 2));
}

// Vascular territories: how often infarcts fall there, where (right hemisphere, template mm), how
// big (radius mm), and whether emboli scatter satellites around them.
const TERRITORIES: { weight: number; place: (r: Random) => Vec3; radius: (r: Random) => number; satellites: boolean }[] = [
  {
    // Middle cerebral artery, cortical branches: a wedge of cortex and white matter under the
    // lateral convexity.
    weight: 0.45,
    place: (r) => {
      const y = r.uniform(-40, 40);
      const z = r.uniform(-15, 40);
      return [convexityX(y, z) - r.uniform(5, 18), y, z];
    },
    radius: (r) => 7 + 18 * r.next() ** 2,
    satellites: true,
  },
  {
    // Middle cerebral artery, lenticulostriate branches: striatum and internal capsule.
    weight: 0.15,
    place: (r) => [r.uniform(15, 28), r.uniform(-10, 15), r.uniform(-5, 15)],
    radius: (r) => r.uniform(5, 13),
    satellites: false,
  },
  {
    // Anterior cerebral artery: the medial frontal and parietal lobe near the top.
    weight: 0.07,
    place: (r) => [r.uniform(3, 14), r.uniform(-10, 45), r.uniform(28, 50)],
    radius: (r) => r.uniform(7, 16),
    satellites: false,
  },
  {
    // Posterior cerebral artery: occipital lobe.
    weight: 0.13,
    place: (r) => [r.uniform(5, 30), r.uniform(-80, -55), r.uniform(-12, 15)],
    radius: (r) => r.uniform(7, 17),
    satellites: true,
  },
  {
    // Lacunes: small deep infarcts of the perforating arteries.
    weight: 0.12,
    place: (r) => [r.uniform(10, 26), r.uniform(-18, 15), r.uniform(-6, 14)],
    radius: (r) => r.uniform(2.5, 6),
    satellites: false,
  },
  {
    // Cerebellum (posterior inferior / superior cerebellar arteries).
    weight: 0.08,
    place: (r) => [r.uniform(12, 35), CEREBELLUM.centre[1] + r.uniform(-10, 10), CEREBELLUM.centre[2] + r.uniform(-6, 8)],
    radius: (r) => r.uniform(5, 13),
    satellites: false,
  },
];

/** How many infarcts a subject has: 0–3, most often one. */
export function randomLesionCount(random: Random): number {
  return random.weighted([0.08, 0.47, 0.3, 0.15]);
}

/**
 * `count` infarcts, mostly on one side (one embolic event), as a model reading the anatomy's
 * sulcal and coarse fields for its boundary irregularity; null when count is 0.
 */
export function randomLesions(random: Random, count: number, fine: SmoothField, coarse: SmoothField): LesionModel | null {
  if (count === 0) return null;
  const side = random.sign();
  const blobs: Blob[] = [];
  for (let n = 0; n < count; n++) {
    const territory = TERRITORIES[random.weighted(TERRITORIES.map((t) => t.weight))];
    const s = random.chance(0.85) ? side : -side;
    const [x, y, z] = territory.place(random);
    const centre: Vec3 = [s * x, y, z];
    const radius = territory.radius(random);
    blobs.push(blob(random, centre, radius));
    if (territory.satellites && random.chance(0.5)) {
      const satellites = 1 + random.int(4);
      for (let q = 0; q < satellites; q++) {
        const around = centre.map((c) => c + random.uniform(-1.6, 1.6) * radius) as Vec3;
        blobs.push(blob(random, around, random.uniform(2, 5)));
      }
    }
  }
  return new LesionModel(blobs, fine, coarse);
}
