// `npm run bench [name ...]`: runs every bench/<name>.bench.ts (or the ones named) and prints one
// JSON line per measurement. Figures that compare against an anchor (OpenBLAS, PyTorch) are
// measured in the same run, so ratios hold on whatever machine runs this.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Emit } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.ts$/, '')))
  .sort();

for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  const emit: Emit = (record) => console.log(JSON.stringify({ bench: name, ...record }));
  const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default: (emit: Emit) => Promise<void> };
  await mod.default(emit);
}
