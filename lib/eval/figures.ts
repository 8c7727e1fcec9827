// Figure 2 of the paper: one subject's axial mid-slice per contrast (columns), rows original /
// masked (masked patches black) / reconstruction. Grey levels are windowed per contrast on the
// original's 1st–99th percentiles, so the three rows of a column are directly comparable.
import type { GrayImage } from '../data/preview.js';
import { percentiles } from '../data/stats.js';

export interface FigureColumn {
  /** The volumes [H][W][D] (D fastest, RAS), all of `shape`. */
  original: Float32Array;
  reconstruction: Float32Array;
  /** The patches the encoder saw (indices q, spec §1); every other patch is drawn black. */
  keep: ArrayLike<number>;
}

const GAP = 4;
const MIN_PANEL = 160; // small model volumes (32³) are scaled up by whole pixels to stay legible

/** An axial slice is a fixed D (RAS: inferior→superior): R–L across, posterior at the bottom. */
export function reconstructionFigure(columns: FigureColumn[], shape: readonly [number, number, number], patch: number): GrayImage {
  const [H, W, D] = shape;
  const k = Math.floor(D / 2);
  const zoom = Math.max(1, Math.ceil(MIN_PANEL / Math.max(H, W)));
  const pw = H * zoom;
  const ph = W * zoom;
  const width = columns.length * pw + (columns.length - 1) * GAP;
  const height = 3 * ph + 2 * GAP;
  const pixels = new Uint8Array(width * height);
  const [gw, gd] = [W / patch, D / patch];
  columns.forEach((col, c) => {
    const kept = new Set(Array.from(col.keep));
    const slice = (v: Float32Array) => Float32Array.from({ length: H * W }, (_, i) => v[i * D + k]);
    const orig = slice(col.original);
    const nonzero = orig.filter((x) => x !== 0);
    const [lo, hi] = percentiles(nonzero.length ? nonzero : orig, [1, 99]);
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    const visible = (i: number, j: number) => kept.has((Math.floor(i / patch) * gw + Math.floor(j / patch)) * gd + Math.floor(k / patch));
    const rows: ((i: number, j: number) => number)[] = [
      (i, j) => orig[i * W + j],
      (i, j) => (visible(i, j) ? orig[i * W + j] : NaN),
      (i, j) => col.reconstruction[(i * W + j) * D + k],
    ];
    rows.forEach((value, r) => {
      const top = r * (ph + GAP);
      const left = c * (pw + GAP);
      for (let y = 0; y < ph; y++) {
        const j = W - 1 - Math.floor(y / zoom); // anterior up
        for (let x = 0; x < pw; x++) {
          const i = Math.floor(x / zoom);
          const v = value(i, j);
          pixels[(top + y) * width + left + x] = Number.isNaN(v) ? 0 : Math.max(0, Math.min(255, Math.round((v - lo) * scale)));
        }
      }
    });
  });
  return { pixels, width, height };
}
