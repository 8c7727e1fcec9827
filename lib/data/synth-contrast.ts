// Rendering tissue maps as MR images. Each contrast is its textbook signal equation applied to
// per-tissue relaxation times, proton density and diffusivity (1.5 T–like values), so relations
// such as "CSF bright in T2 and ADC, dark in FLAIR and T1" or "grey matter brighter than white in
// T2, darker in T1" come out of the physics rather than from a table of grey levels. Sequence
// parameters vary per subject, as protocols do between sites. Then a smooth multiplicative bias
// field, Rician noise (the magnitude of a complex signal with Gaussian noise in both channels) and
// integer scaling, as a scanner stores images.

import type { ContrastName } from './contrasts.js';
import { TISSUES, type Tissue, type TissueMaps } from './synth-anatomy.js';
import { SmoothField } from './synth-field.js';
import { Random } from '../util/random.js';
import type { Grid, Vec3 } from './volume.js';

interface TissueParams {
  /** Proton density (relative). */
  pd: number;
  /** Relaxation times, ms. */
  t1: number;
  t2: number;
  t2s: number;
  /** Apparent diffusion coefficient, 10⁻³ mm²/s. */
  adc: number;
  /** Fraction of the signal from fat, which diffusion imaging suppresses. */
  fat: number;
}

const PARAMS: Record<Tissue, TissueParams> = {
  csf: { pd: 1.0, t1: 4000, t2: 1800, t2s: 1000, adc: 3.0, fat: 0 },
  gm: { pd: 0.8, t1: 1100, t2: 95, t2s: 62, adc: 0.89, fat: 0 },
  wm: { pd: 0.68, t1: 700, t2: 75, t2s: 52, adc: 0.72, fat: 0 },
  // Deep grey nuclei hold iron, which shortens T2*: dark in GRE and SWI.
  deep: { pd: 0.76, t1: 950, t2: 80, t2s: 32, adc: 0.78, fat: 0 },
  dura: { pd: 0.45, t1: 1200, t2: 50, t2s: 30, adc: 1.0, fat: 0 },
  bone: { pd: 0.04, t1: 1000, t2: 2, t2s: 1, adc: 0.3, fat: 0 },
  marrow: { pd: 0.8, t1: 330, t2: 100, t2s: 40, adc: 0.3, fat: 0.7 },
  fat: { pd: 0.9, t1: 270, t2: 120, t2s: 50, adc: 0.05, fat: 1 },
  muscle: { pd: 0.72, t1: 950, t2: 40, t2s: 28, adc: 1.5, fat: 0 },
};
const PARENCHYMA = new Set<Tissue>(['gm', 'wm', 'deep']);

type Sequence =
  | { kind: 'spin-echo'; tr: number; te: number }
  | { kind: 'inversion-recovery'; tr: number; te: number; ti: number }
  | { kind: 'gradient-echo'; tr: number; te: number; flip: number; phaseMask: boolean }
  | { kind: 'mprage'; tr: number; te: number; ti: number; contrastAgent: boolean };

/** One subject's scan protocol and how its infarcts change tissue. */
export interface Protocol {
  sequences: Record<Exclude<ContrastName, 'ADC' | 'TRACE'>, Sequence>;
  /** The diffusion acquisition: spin-echo EPI at b = 1000 s/mm², fat suppressed. */
  diffusion: { tr: number; te: number; b: number };
  /** Cytotoxic oedema: ADC falls by adcDrop, T2 rises by t2Rise (hours after onset: mildly). */
  lesion: { adcDrop: number; t2Rise: number };
}

export function randomProtocol(random: Random): Protocol {
  const u = (lo: number, hi: number) => random.uniform(lo, hi);
  const flairTr = u(8000, 10000);
  // The inversion time that nulls CSF for this TR, give or take a little.
  const t1Csf = PARAMS.csf.t1;
  const flairTi = t1Csf * Math.log(2 / (1 + Math.exp(-flairTr / t1Csf))) * u(0.96, 1.04);
  const t1 = { kind: 'mprage', tr: u(1900, 2500), te: u(2.5, 4.5), ti: u(950, 1100), contrastAgent: false } as const;
  return {
    sequences: {
      T1: t1,
      T1CE: { ...t1, contrastAgent: true },
      T2: { kind: 'spin-echo', tr: u(3000, 5000), te: u(85, 110) },
      FLAIR: { kind: 'inversion-recovery', tr: flairTr, te: u(100, 130), ti: flairTi },
      PD: { kind: 'spin-echo', tr: u(4000, 6000), te: u(10, 20) },
      GRE: { kind: 'gradient-echo', tr: u(400, 700), te: u(15, 25), flip: u(15, 25), phaseMask: false },
      SWI: { kind: 'gradient-echo', tr: u(25, 40), te: u(18, 28), flip: u(5, 8), phaseMask: true },
    },
    diffusion: { tr: u(4000, 7000), te: u(60, 90), b: 1000 },
    lesion: { adcDrop: u(0.4, 0.6), t2Rise: u(0.1, 0.3) },
  };
}

function infarcted(p: TissueParams, { adcDrop, t2Rise }: Protocol['lesion']): TissueParams {
  return { ...p, pd: p.pd * (1 + 0.15 * t2Rise), t1: p.t1 * (1 + 0.6 * t2Rise), t2: p.t2 * (1 + t2Rise), t2s: p.t2s * (1 + 0.5 * t2Rise), adc: p.adc * (1 - adcDrop) };
}

// Gadolinium shortens T1 where it reaches: dura and muscle enhance, the brain behind its barrier
// does not.
const ENHANCED_T1: Partial<Record<Tissue, number>> = { dura: 250, muscle: 600 };

// SWI multiplies the magnitude by a mask made from the phase, darkening paramagnetic tissue: the
// iron of the deep nuclei most, grey matter a little (so it ends up darker than white matter).
const PHASE_MASK: Partial<Record<Tissue, number>> = { gm: 0.75, deep: 0.5, dura: 0.8 };

function signal(seq: Sequence, tissue: Tissue, p: TissueParams): number {
  switch (seq.kind) {
    case 'spin-echo':
      return p.pd * (1 - Math.exp(-seq.tr / p.t1)) * Math.exp(-seq.te / p.t2);
    case 'inversion-recovery':
      // Magnitude reconstruction: the inversion time nulls CSF.
      return p.pd * Math.abs(1 - 2 * Math.exp(-seq.ti / p.t1) + Math.exp(-seq.tr / p.t1)) * Math.exp(-seq.te / p.t2);
    case 'mprage': {
      // Inversion-prepared gradient echo (MPRAGE-like): the sign of the longitudinal
      // magnetisation survives, so tissue still inverted at readout (CSF) is dark, not bright.
      const t1 = seq.contrastAgent ? (ENHANCED_T1[tissue] ?? p.t1) : p.t1;
      return p.pd * Math.max(0, 1 - 2 * Math.exp(-seq.ti / t1) + Math.exp(-seq.tr / t1)) * Math.exp(-seq.te / p.t2s);
    }
    case 'gradient-echo': {
      // Spoiled steady state (Ernst).
      const e1 = Math.exp(-seq.tr / p.t1);
      const a = (seq.flip * Math.PI) / 180;
      const magnitude = ((p.pd * Math.sin(a) * (1 - e1)) / (1 - Math.cos(a) * e1)) * Math.exp(-seq.te / p.t2s);
      return seq.phaseMask ? magnitude * (PHASE_MASK[tissue] ?? 1) : magnitude;
    }
  }
}

/** Per tissue, the signal of healthy tissue and (parenchyma only) of infarcted tissue. */
interface TissueSignals {
  healthy: Float64Array;
  infarct: Float64Array;
}

function tissueSignals(f: (t: Tissue, p: TissueParams) => number, lesion: Protocol['lesion']): TissueSignals {
  const healthy = Float64Array.from(TISSUES, (t) => f(t, PARAMS[t]));
  const infarct = Float64Array.from(TISSUES, (t, q) => (PARENCHYMA.has(t) ? f(t, infarcted(PARAMS[t], lesion)) : healthy[q]));
  return { healthy, infarct };
}

/** The noise-free signal of every voxel: tissue mixtures, infarcted parenchyma included. */
function mix(maps: TissueMaps, s: TissueSignals): Float32Array {
  const n = maps.lesion.length;
  const out = new Float32Array(n);
  TISSUES.forEach((t, q) => {
    const frac = maps.fractions[t];
    const healthy = s.healthy[q];
    const delta = s.infarct[q] - healthy;
    if (delta === 0) {
      for (let p = 0; p < n; p++) out[p] += frac[p] * healthy;
    } else {
      const lesion = maps.lesion;
      for (let p = 0; p < n; p++) out[p] += frac[p] * (healthy + lesion[p] * delta);
    }
  });
  return out;
}

// The box (world mm) the bias fields cover: any head the generator places, with room to spare.
const WORLD_LO: Vec3 = [-170, -190, -200];
const WORLD_HI: Vec3 = [170, 190, 170];

/** exp(strength · field) at every voxel centre: a coil's smooth sensitivity profile. */
function biasField(random: Random, grid: Grid): Float32Array {
  const field = new SmoothField(random, WORLD_LO, WORLD_HI, 20, 55);
  const strength = random.uniform(0.08, 0.22);
  const [n0, n1, n2] = grid.shape;
  const a = grid.affine;
  const out = new Float32Array(n0 * n1 * n2);
  let idx = 0;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++) {
        const x = a[0][0] * i + a[0][1] * j + a[0][2] * k + a[0][3];
        const y = a[1][0] * i + a[1][1] * j + a[1][2] * k + a[1][3];
        const z = a[2][0] * i + a[2][1] * j + a[2][2] * k + a[2][3];
        out[idx++] = Math.exp(strength * field.at(x, y, z));
      }
    }
  }
  return out;
}

/**
 * In place: signal × bias, plus complex Gaussian noise of standard deviation sigma per channel,
 * magnitude taken (Rician; in the background it is Rayleigh).
 */
function addRicianNoise(values: Float32Array, bias: Float32Array, sigma: number, random: Random): void {
  for (let p = 0; p < values.length; p++) {
    // One pair of Marsaglia's polar method (Box–Muller without the trigonometry) gives the real
    // and the imaginary noise.
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * random.next() - 1;
      v = 2 * random.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = sigma * Math.sqrt((-2 * Math.log(s)) / s);
    const re = values[p] * bias[p] + f * u;
    const im = f * v;
    values[p] = Math.sqrt(re * re + im * im);
  }
}

/** Scales to integers as a scanner stores them, clipped to what int16 holds. */
function toStored(values: Float32Array, scale: number, max = 32767): Float32Array {
  for (let p = 0; p < values.length; p++) values[p] = Math.min(max, Math.max(0, Math.round(values[p] * scale)));
  return values;
}

/** The tissues whose brightness sets an image's grey scale: what a scanner's autoscaling sees. */
const VISIBLE: Tissue[] = ['csf', 'gm', 'wm', 'deep', 'fat', 'marrow', 'muscle'];

/** A structural contrast (anything but ADC and TRACE) on a grid, as stored integers. */
export function renderStructural(
  contrast: Exclude<ContrastName, 'ADC' | 'TRACE'>,
  maps: TissueMaps,
  grid: Grid,
  protocol: Protocol,
  random: Random,
): Float32Array {
  const seq = protocol.sequences[contrast];
  const s = tissueSignals((t, p) => signal(seq, t, p), protocol.lesion);
  const values = mix(maps, s);
  const ref = Math.max(s.healthy[TISSUES.indexOf('gm')], s.healthy[TISSUES.indexOf('wm')]);
  addRicianNoise(values, biasField(new Random(random.uint32(), 'bias'), grid), ref / random.uniform(25, 50), random);
  const brightest = Math.max(...VISIBLE.map((t) => s.healthy[TISSUES.indexOf(t)]));
  return toStored(values, random.uniform(1200, 3200) / brightest);
}

/**
 * TRACE (the diffusion-weighted image at b = 1000) and the ADC map of one diffusion acquisition.
 * ADC is computed as a scanner does, −ln(S_b / S_0) / b from the noisy b = 0 and b = 1000 images,
 * so the bias field cancels and the noise is the real thing (large in CSF, whose S_b is faint);
 * where S_0 is too faint to be tissue the scanner writes 0. ADC is stored in 10⁻⁶ mm²/s.
 */
export function renderDiffusion(maps: TissueMaps, grid: Grid, protocol: Protocol, random: Random): { trace: Float32Array; adc: Float32Array } {
  const { tr, te, b } = protocol.diffusion;
  const spinEcho: Sequence = { kind: 'spin-echo', tr, te };
  const s0 = tissueSignals((t, p) => signal(spinEcho, t, p) * (1 - 0.95 * p.fat), protocol.lesion);
  const sb = tissueSignals((t, p) => signal(spinEcho, t, p) * (1 - 0.95 * p.fat) * Math.exp(-b * p.adc * 1e-3), protocol.lesion);
  const gm = TISSUES.indexOf('gm');
  const sigma = sb.healthy[gm] / random.uniform(20, 40);
  const bias = biasField(new Random(random.uint32(), 'bias'), grid);
  const base = mix(maps, s0);
  const weighted = mix(maps, sb);
  addRicianNoise(base, bias, sigma, random);
  addRicianNoise(weighted, bias, sigma, random);
  const threshold = 0.3 * s0.healthy[TISSUES.indexOf('wm')];
  const adc = new Float32Array(base.length);
  for (let p = 0; p < adc.length; p++) {
    adc[p] = base[p] < threshold ? 0 : Math.log(base[p] / Math.max(weighted[p], 1e-3 * sigma)) / (b * 1e-6);
  }
  const brightest = Math.max(...VISIBLE.map((t) => sb.healthy[TISSUES.indexOf(t)]));
  return { trace: toStored(weighted, random.uniform(600, 1600) / brightest), adc: toStored(adc, 1, 5000) };
}
