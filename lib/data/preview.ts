// A quick look at a volume: its three middle slices side by side, for `amae inspect --png`.

import { asClosestCanonical } from './orientation.js';
import { percentiles } from './stats.js';
import type { Volume } from './volume.js';

export interface GrayImage {
  /** Row by row, top row first. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

// Panels are drawn at about this many pixels across the volume's largest extent, so that a 2 mm
// and a 0.5 mm scan give previews of similar size.
const PANEL_PIXELS = 256;
const GAP = 4;

/**
 * Sagittal, coronal and axial middle slices of the volume on its closest RAS grid, left to right,
 * shown as neurological viewers do (patient's left on the image's left, anterior and superior
 * up), with square pixels in mm and grey levels windowed to the 1st–99th percentiles of the
 * non-zero voxels.
 */
export function midSlicePreview(volume: Volume): GrayImage {
  const v = asClosestCanonical(volume);
  // Skull-stripped scans are mostly exact zeros; windowing over the non-zero voxels keeps the
  // background from pulling the upper percentile down into the brain's range.
  const nonzero = v.data.filter((x) => x !== 0);
  const [lo, hi] = percentiles(nonzero.length > 0 ? nonzero : v.data, [1, 99]);
  const extent = v.shape.map((n, a) => n * v.spacing[a]);
  const mm = Math.min(...v.spacing, Math.max(...extent) / PANEL_PIXELS);
  const mid = v.shape.map((n) => Math.floor(n / 2));

  // Each panel: the axis held at its middle, the axis across (left to right) and the axis up.
  const panels = [
    { fixed: 0, across: 1, up: 2 },
    { fixed: 1, across: 0, up: 2 },
    { fixed: 2, across: 0, up: 1 },
  ].map((p) => ({ ...p, width: Math.max(1, Math.round(extent[p.across] / mm)), height: Math.max(1, Math.round(extent[p.up] / mm)) }));
  const width = panels.reduce((w, p) => w + p.width, 0) + GAP * (panels.length - 1);
  const height = Math.max(...panels.map((p) => p.height));
  const pixels = new Uint8Array(width * height);
  const strides = [v.shape[1] * v.shape[2], v.shape[2], 1];
  const scale = hi > lo ? 255 / (hi - lo) : 0;

  let left = 0;
  for (const p of panels) {
    const top = Math.floor((height - p.height) / 2);
    const nAcross = v.shape[p.across];
    const nUp = v.shape[p.up];
    for (let row = 0; row < p.height; row++) {
      const up = nUp - 1 - Math.min(nUp - 1, Math.floor(((row + 0.5) * nUp) / p.height));
      for (let col = 0; col < p.width; col++) {
        const across = Math.min(nAcross - 1, Math.floor(((col + 0.5) * nAcross) / p.width));
        const value = v.data[mid[p.fixed] * strides[p.fixed] + across * strides[p.across] + up * strides[p.up]];
        pixels[(top + row) * width + left + col] = Math.max(0, Math.min(255, Math.round((value - lo) * scale)));
      }
    }
    left += p.width + GAP;
  }
  return { pixels, width, height };
}
