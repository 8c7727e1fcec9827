// Smooth random fields for the synthetic anatomy: white noise on a coarse lattice, smoothed with a
// separable Gaussian and read anywhere by trilinear interpolation. A field is a function of
// position in millimetres rather than of a voxel grid, so every grid a subject is sampled on (its
// main grid, a thick-slice FLAIR grid) sees the same anatomy. The lattice is a torus — smoothed
// and sampled periodically — so a field is defined everywhere, equally smooth up to the edges of
// its box, and with no margin to pay for.

import type { Random } from '../util/random.js';
import type { Vec3 } from './volume.js';

/** Gaussian taps for σ (in lattice cells), cut at 3σ, summing to 1. */
function gaussianKernel(sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** Convolves a C-order [n0][n1][n2] array along `axis`, circularly (the lattice is a torus). */
function convolveCircular(src: Float32Array, shape: Vec3, axis: 0 | 1 | 2, kernel: Float64Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(src.length);
  const strides = [shape[1] * shape[2], shape[2], 1];
  const len = shape[axis];
  const step = strides[axis];
  const taps = kernel.length;
  const r = (taps - 1) / 2;
  // Each line is copied with r wrapped values on either side, so the inner loop needs no modulo.
  const line = new Float64Array(len + 2 * r);
  const [o0, o1] = [0, 1, 2].filter((a) => a !== axis);
  const wrap = (q: number) => r + ((((q - r) % len) + len) % len);
  for (let a = 0; a < shape[o0]; a++) {
    for (let b = 0; b < shape[o1]; b++) {
      const start = a * strides[o0] + b * strides[o1];
      for (let q = 0; q < len; q++) line[r + q] = src[start + q * step];
      for (let q = 0; q < r; q++) {
        line[q] = line[wrap(q)];
        line[r + len + q] = line[wrap(r + len + q)];
      }
      for (let q = 0; q < len; q++) {
        let sum = 0;
        for (let t = 0; t < taps; t++) sum += kernel[t] * line[q + t];
        out[start + q * step] = sum;
      }
    }
  }
  return out;
}

export class SmoothField {
  private readonly data: Float32Array;
  private readonly n: Vec3;
  private readonly origin: Vec3;
  private readonly inv: number;
  /** Independent fields sharing one lattice: sampling them together costs one interpolation. */
  readonly channels: number;
  /** Root-mean-square gradient magnitude of channel 0 (per mm): |f|/gradRms approximates the
   * distance (mm) to the field's zero level set, which turns a zero set into a sheet of given
   * width. */
  readonly gradRms: number;

  /**
   * Zero-mean, unit-variance fields with lattice spacing `spacing` mm and correlation length
   * `sigma` mm, repeating with the period of the box [lo, hi] (mm) — which should hold whatever
   * must not look repeated.
   */
  constructor(random: Random, lo: Vec3, hi: Vec3, spacing: number, sigma: number, channels = 1) {
    const kernel = gaussianKernel(sigma / spacing);
    const n = lo.map((l, a) => Math.max(2, Math.ceil((hi[a] - l) / spacing))) as Vec3;
    const cells = n[0] * n[1] * n[2];
    const interleaved = new Float32Array(cells * channels);
    let gradRms = 0;
    for (let ch = 0; ch < channels; ch++) {
      let data = new Float32Array(cells);
      random.normals(data);
      for (const axis of [2, 1, 0] as const) data = convolveCircular(data, n, axis, kernel);
      normalise(data);
      if (ch === 0) gradRms = rmsGradient(data, n) / spacing;
      for (let p = 0; p < cells; p++) interleaved[p * channels + ch] = data[p];
    }
    this.gradRms = gradRms;
    this.data = interleaved;
    this.channels = channels;
    this.n = n;
    this.origin = [...lo];
    this.inv = 1 / spacing;
  }

  /** Channel 0 at (x, y, z) mm. */
  at(x: number, y: number, z: number): number {
    this.sample(x, y, z, scratch, 1);
    return scratch[0];
  }

  /** The first `count` channels at (x, y, z) mm, into out[0..count). */
  sample(x: number, y: number, z: number, out: Float64Array, count = this.channels): void {
    const n0 = this.n[0];
    const n1 = this.n[1];
    const n2 = this.n[2];
    const u = (x - this.origin[0]) * this.inv;
    const v = (y - this.origin[1]) * this.inv;
    const w = (z - this.origin[2]) * this.inv;
    const fi = Math.floor(u);
    const fj = Math.floor(v);
    const fk = Math.floor(w);
    const fu = u - fi;
    const fv = v - fj;
    const fw = w - fk;
    // Lattice indices modulo the lattice size; the step to the next one wraps at the last.
    const i = fi >= 0 && fi < n0 ? fi : ((fi % n0) + n0) % n0;
    const j = fj >= 0 && fj < n1 ? fj : ((fj % n1) + n1) % n1;
    const k = fk >= 0 && fk < n2 ? fk : ((fk % n2) + n2) % n2;
    const d = this.data;
    const c = this.channels;
    const sk = k + 1 < n2 ? c : c * (1 - n2);
    const sj = j + 1 < n1 ? n2 * c : n2 * c * (1 - n1);
    const si = i + 1 < n0 ? n1 * n2 * c : n1 * n2 * c * (1 - n0);
    const base = ((i * n1 + j) * n2 + k) * c;
    const w000 = (1 - fu) * (1 - fv) * (1 - fw);
    const w001 = (1 - fu) * (1 - fv) * fw;
    const w010 = (1 - fu) * fv * (1 - fw);
    const w011 = (1 - fu) * fv * fw;
    const w100 = fu * (1 - fv) * (1 - fw);
    const w101 = fu * (1 - fv) * fw;
    const w110 = fu * fv * (1 - fw);
    const w111 = fu * fv * fw;
    for (let ch = 0; ch < count; ch++) {
      const p = base + ch;
      out[ch] =
        w000 * d[p] +
        w001 * d[p + sk] +
        w010 * d[p + sj] +
        w011 * d[p + sj + sk] +
        w100 * d[p + si] +
        w101 * d[p + si + sk] +
        w110 * d[p + si + sj] +
        w111 * d[p + si + sj + sk];
    }
  }
}

const scratch = new Float64Array(1);

/** In place: zero mean, unit variance, so that amplitudes are set by callers in mm. */
function normalise(data: Float32Array): void {
  let sum = 0;
  let sq = 0;
  for (const v of data) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / data.length;
  const scale = 1 / Math.sqrt(Math.max(sq / data.length - mean * mean, 1e-12));
  for (let i = 0; i < data.length; i++) data[i] = (data[i] - mean) * scale;
}

/** RMS of the forward-difference gradient magnitude, per lattice cell. */
function rmsGradient(data: Float32Array, n: Vec3): number {
  let g2 = 0;
  const [s0, s1] = [n[1] * n[2], n[2]];
  for (let a = 0; a + 1 < n[0]; a++) {
    for (let b = 0; b + 1 < n[1]; b++) {
      for (let c = 0; c + 1 < n[2]; c++) {
        const p = a * s0 + b * s1 + c;
        const dx = data[p + s0] - data[p];
        const dy = data[p + s1] - data[p];
        const dz = data[p + 1] - data[p];
        g2 += dx * dx + dy * dy + dz * dz;
      }
    }
  }
  return Math.sqrt(g2 / ((n[0] - 1) * (n[1] - 1) * (n[2] - 1)));
}
