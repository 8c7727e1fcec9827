import test from 'ava';
import { reconstructionFigure } from '../../lib/eval/figures.js';

test('three rows per contrast column; masked patches are black, visible ones show the original', (t) => {
  const shape = [32, 32, 32] as const;
  const n = 32 ** 3;
  const original = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const reconstruction = new Float32Array(n).fill(4);
  const img = reconstructionFigure([{ original, reconstruction, keep: [0, 2] }, { original, reconstruction, keep: [] }], shape, 16);
  // 32 px panels are zoomed ×5 to 160; two columns, three rows, 4 px gaps.
  t.is(img.width, 2 * 160 + 4);
  t.is(img.height, 3 * 160 + 2 * 4);
  const px = (x: number, y: number) => img.pixels[y * img.width + x];
  // Row 2 (masked), column 2 keeps nothing: all black.
  let black = true;
  for (let y = 164; y < 324; y++) for (let x = 164; x < 324; x++) black &&= px(x, y) === 0;
  t.true(black);
  // Column 1 keeps patches q = 0 and 2 (gh 0, gw 0 and gw 1 at gd 1 for the mid slice k = 16):
  // q = (gh·2 + gw)·2 + gd, so the mid slice (gd = 1) shows q = 1, 3, 5, 7 — none kept: black too.
  t.is(px(10, 170), 0);
  // Row 1 equals row 2 where a patch is visible; with keep [1] the top-left quadrant appears.
  const img2 = reconstructionFigure([{ original, reconstruction, keep: [1] }], shape, 16);
  const p2 = (x: number, y: number) => img2.pixels[y * img2.width + x];
  // Patch q = 1 is gh 0, gw 0: i < 16 (left half), j < 16 (posterior half: bottom of the panel).
  let same = true;
  let sum = 0;
  for (let y = 80; y < 160; y++)
    for (let x = 0; x < 80; x++) {
      same &&= p2(x, 164 + y) === p2(x, y);
      sum += p2(x, y);
    }
  t.true(same && sum > 0, 'the visible patch shows the original');
  t.is(p2(100, 164 + 150), 0);
});
