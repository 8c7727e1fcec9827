// Loads the addon (a prebuild, or build/Release after a source build) and types its surface.
// AMAE_ADDON=/path/to/amae.node loads a specific build (the sanitizer run uses it).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CudaInfo, CudaMath, Device } from './device.js';
import type { IndexTensor, Tensor } from './tensor.js';

export type OpInput = Tensor | IndexTensor;
export type OpAttrs = Record<string, number | boolean | number[]>;

/** Where one op call runs: 'cpu' (the default) or 'cuda' (its tensors are copied to the GPU and
 * its outputs back; an Error naming the op and the reason when CUDA cannot run here). */
export interface OpOptions {
  device?: Device;
}

export interface OpInfo {
  name: string;
  inputs: string[];
  attrs: string[];
}

/** The native AMAE configuration (every field checked by the constructor, errors naming config.<field>). */
export interface NativeAmaeConfig {
  size: readonly [number, number, number];
  patch: number;
  embedDim: number;
  depth: number;
  heads: number;
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  mlpRatio?: number;
  normPix?: boolean;
  code?: 'onehot' | 'learned';
  posEmbed?: 'sincos' | 'learnable';
  /** Where the model lives and computes; default 'cpu'. 'cuda' throws an Error with cudaInfo()'s
   * reason when CUDA cannot run here. */
  device?: Device;
}

/** One packed batch as every native model takes it (see lib/models/batch.ts and segmentation.ts):
 * subjects, each with some contrasts, back to back. */
export interface NativeBatch {
  /** [Nc, H, W, D]: every contrast of every subject, subject by subject. */
  volumes: Tensor;
  /** [Nc] registry ids, strictly increasing within a subject. */
  contrasts: Int32Array;
  /** [S + 1] offsets into contrasts. */
  subjects: Int32Array;
  /** AMAE: kept patch indices, contrast by contrast, ascending within a contrast. */
  keep?: Int32Array;
  /** AMAE: [Nc + 1] offsets into keep; every contrast keeps at least one patch. */
  keepOffsets?: Int32Array;
  /** Segmentation: [S, classes, H, W, D] targets in [0, 1] (required for the loss). */
  labels?: Tensor;
}

/** AMAE's batch: the masks are required. */
export interface NativeAmaeBatch extends NativeBatch {
  keep: Int32Array;
  keepOffsets: Int32Array;
}

export interface NativeOptimOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm clipping bound; ≤ 0 (the default) turns clipping off. */
  maxGradNorm?: number;
}

export interface ParameterInfo {
  name: string;
  shape: number[];
  /** AdamW weight decay applies. */
  decay: boolean;
  /** The optimiser updates it (the fixed sin-cos position tables are not). */
  trainable: boolean;
}

export interface OptimizerState {
  step: number;
  m: Record<string, Tensor>;
  v: Record<string, Tensor>;
}

export interface ModelState {
  weights?: Record<string, Tensor>;
  optimizer?: OptimizerState;
}

export type ModelKind = 'amae' | 'unetr' | 'adaptive-unetr' | 'unet';

/** The one native model binding (every kind). Compute methods return Promises and are serialised
 * per model; argument errors throw synchronously, naming the field. */
export interface NativeModel {
  readonly kind: ModelKind;
  /** Where the weights and activations live. */
  readonly device: Device;
  trainStep(batch: NativeBatch, opt: NativeOptimOptions): Promise<{ loss: number; gradNorm: number; updated: boolean }>;
  /** AMAE: the prediction of every patch [Nc, P, p³]; segmentation: logits [S, classes, H, W, D].
   * loss is present where the batch carries what it needs (AMAE's masks, segmentation labels). */
  forward(batch: NativeBatch): Promise<{ loss?: number; output: Tensor }>;
  /** The ViT's final-normed tokens [T, E] (AMAE: the kept patches only). */
  encode(batch: NativeBatch): Promise<{ output: Tensor }>;
  lossAndGrads(batch: NativeBatch): Promise<{ loss: number; grads: Record<string, Float32Array> }>;
  parameters(): ParameterInfo[];
  getState(options?: { weights?: boolean; optimizer?: boolean }): Promise<ModelState>;
  setState(state: ModelState): Promise<void>;
}

export interface Addon {
  /**
   * Runs one native op off the event loop; argument errors throw synchronously. `outputs` may
   * hand in buffers to reuse (of the declared shapes, not sharing memory with an input): they
   * are zero-filled and written, as a fresh output would be, and returned.
   */
  op(
    name: string,
    inputs: Record<string, OpInput>,
    attrs?: OpAttrs,
    outputs?: Record<string, OpInput>,
    options?: OpOptions,
  ): Promise<Record<string, OpInput>>;
  opList(): OpInfo[];
  /** Every model kind; config fields as lib/models' configurations (with a device field). */
  Model: new (kind: ModelKind, config: object, seed?: number) => NativeModel;
  /** Never throws: a build without CUDA, or a machine without a device, is an answer. */
  cudaInfo(): CudaInfo;
  cudaSelect(index: number): void;
  cudaSetMath(mode: CudaMath): void;
  cudaMath(): CudaMath;
  /** cuda: compiled with the CUDA backend; cublas: its GEMMs use cuBLAS. */
  build: { cuda: boolean; cublas: boolean; threads: number };
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

/** Runs a native op and returns its named outputs, typed by the caller; `options.device` picks
 * where (argument errors, and 'cuda' where CUDA cannot run, throw synchronously). */
export function runOp<O extends Record<string, OpInput>>(
  name: string,
  inputs: Record<string, OpInput | undefined>,
  attrs: OpAttrs = {},
  outputs?: Partial<O>,
  options?: OpOptions,
): Promise<O> {
  const present: Record<string, OpInput> = {};
  for (const [k, v] of Object.entries(inputs)) if (v !== undefined) present[k] = v;
  return addon.op(name, present, attrs, outputs as Record<string, OpInput> | undefined, options) as Promise<O>;
}
