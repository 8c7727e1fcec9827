// Loads the addon (a prebuild, or build/Release after a source build) and types its surface.
// AMAE_ADDON=/path/to/amae.node loads a specific build (the sanitizer run uses it).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IndexTensor, Tensor } from './tensor.js';

export type OpInput = Tensor | IndexTensor;
export type OpAttrs = Record<string, number | boolean | number[]>;

export interface OpInfo {
  name: string;
  inputs: string[];
  attrs: string[];
}

export interface Addon {
  /** Runs one native op off the event loop; argument errors throw synchronously. */
  op(name: string, inputs: Record<string, OpInput>, attrs?: OpAttrs): Promise<Record<string, OpInput>>;
  opList(): OpInfo[];
  build: { cuda: boolean; threads: number };
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'amae') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('amae: cannot find the package root to load the native addon');
    dir = up;
  }
}

const require = createRequire(import.meta.url);

function load(): Addon {
  if (process.env.AMAE_ADDON) return require(path.resolve(process.env.AMAE_ADDON)) as Addon;
  const root = packageRoot();
  try {
    return require('node-gyp-build')(root) as Addon;
  } catch (e) {
    throw new Error(
      `amae: no native addon for ${process.platform}-${process.arch} (node ${process.version}) in ${root}: ` +
        `${(e as Error).message}. Run \`npm run build:native\` to build it from source.`,
    );
  }
}

export const addon: Addon = load();

/** Runs a native op and returns its named outputs, typed by the caller. */
export function runOp<O extends Record<string, OpInput>>(
  name: string,
  inputs: Record<string, OpInput | undefined>,
  attrs: OpAttrs = {},
): Promise<O> {
  const present: Record<string, OpInput> = {};
  for (const [k, v] of Object.entries(inputs)) if (v !== undefined) present[k] = v;
  return addon.op(name, present, attrs) as Promise<O>;
}
