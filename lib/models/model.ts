// The one TypeScript base of every model handle (AMAE, UNETR, Adaptive UNETR, U-Net): the native
// model, its device, parameters and weights by checkpoint name, safetensors save/load with spec
// §6's metadata, and the optimizer state beside the weights for exact resume. The native side owns
// the weights, gradients and moments; this class only moves them to and from files.
import { CONTRASTS } from '../data/contrasts.js';
import { type Device, requireDevice } from '../device.js';
import { type ModelKind, type NativeBatch, type NativeModel, type NativeOptimOptions, type ParameterInfo, addon } from '../native.js';
import type { Tensor } from '../tensor.js';
import { CheckpointError, type StoredTensor, readSafetensors, writeSafetensors } from './safetensors.js';

export type { ModelKind } from '../native.js';

/** How a model is created: its initialisation seed (default 0) and its device (default 'cpu'). */
export interface ModelOptions {
  seed?: number;
  /** 'cuda' places the weights, gradients, moments and activations on the GPU; an Error with
   * cudaInfo()'s reason where CUDA cannot run. */
  device?: Device;
}

/** One AdamW step's settings; the defaults are spec §4's (β 0.9/0.95, weight decay 0.05). */
export type TrainStepOptions = NativeOptimOptions;

export interface TrainStepResult {
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** False when the loss or the gradients were not finite: the step was skipped. */
  updated: boolean;
}

/** A checkpoint's contents, its metadata checked (kind, registry, config JSON). */
export interface Checkpoint {
  kind: ModelKind;
  config: Record<string, unknown>;
  tensors: Map<string, StoredTensor>;
}

const KINDS: readonly ModelKind[] = ['amae', 'unetr', 'adaptive-unetr', 'unet'];
const OPTIMIZER_KIND = (kind: ModelKind) => `${kind}-optimizer`;

export abstract class Model<Config extends object = object> {
  readonly kind: ModelKind;
  /** The architecture, every field filled in: what a checkpoint records. */
  readonly config: Config;
  /** Where the model lives and computes. */
  readonly device: Device;
  protected readonly native: NativeModel;

  /** nativeConfig is what the binding takes (config with ids where the user gave names). */
  protected constructor(kind: ModelKind, config: Config, nativeConfig: object, { seed = 0, device = 'cpu' }: ModelOptions) {
    this.kind = kind;
    this.config = config;
    this.device = requireDevice(device, 'device');
    this.native = new addon.Model(kind, this.device === 'cpu' ? nativeConfig : { ...nativeConfig, device: this.device }, seed);
  }

  /** One training step: forward, loss, backward, optional clipping, AdamW with the caller's lr. */
  trainStep(batch: NativeBatch, opt: TrainStepOptions): Promise<TrainStepResult> {
    return this.call(() => this.native.trainStep(batch, opt));
  }

  /** The loss and every trainable parameter's gradient (for tests and checks). */
  lossAndGrads(batch: NativeBatch): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
    return this.call(() => this.native.lossAndGrads(batch));
  }

  /** The ViT encoder's final-normed tokens [T, E] (MONAI ViT's `x`); a U-Net has none. */
  async encode(batch: NativeBatch): Promise<Tensor> {
    return (await this.call(() => this.native.encode(batch))).output;
  }

  parameters(): ParameterInfo[] {
    return this.native.parameters();
  }

  /** Copies of the weights by checkpoint name. */
  weights(): Promise<Record<string, Tensor>> {
    return this.call(async () => (await this.native.getState({ weights: true })).weights!);
  }

  /** Overwrites the named weights (any subset; names and shapes are checked). */
  setWeights(weights: Record<string, Tensor>): Promise<void> {
    return this.call(() => this.native.setState({ weights }));
  }

  /** Writes the weights as safetensors (spec §6 names; metadata config, kind, contrasts). */
  async save(file: string): Promise<void> {
    const weights = await this.weights();
    const tensors = this.parameters().map((p): [string, StoredTensor] => [p.name, weights[p.name]]);
    await writeSafetensors(file, tensors, { config: JSON.stringify(this.config), kind: this.kind, contrasts: JSON.stringify(CONTRASTS) });
  }

  /** Loads every tensor of a checkpoint of this model's kind and architecture (each present, float32,
   * finite, of its shape; no other tensor). `file` names the checkpoint in errors. */
  async loadTensors(file: string, tensors: Map<string, StoredTensor>): Promise<void> {
    await this.setWeights(matchTensors(file, tensors, this.parameters().map((p) => [p.name, p.shape])));
  }

  /** Writes the AdamW state beside the weights: `<name>.m`, `<name>.v`, the step in the metadata. */
  async saveOptimizer(file: string): Promise<void> {
    const { optimizer } = await this.call(() => this.native.getState({ weights: false, optimizer: true }));
    const tensors: [string, StoredTensor][] = [];
    for (const p of this.parameters().filter((q) => q.trainable)) {
      tensors.push([`${p.name}.m`, optimizer!.m[p.name]], [`${p.name}.v`, optimizer!.v[p.name]]);
    }
    await writeSafetensors(file, tensors, { kind: OPTIMIZER_KIND(this.kind), step: String(optimizer!.step), config: JSON.stringify(this.config) });
  }

  /** Restores the AdamW state written by saveOptimizer() (every moment present, shapes checked). */
  async loadOptimizer(file: string): Promise<void> {
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.kind !== OPTIMIZER_KIND(this.kind))
      throw new CheckpointError(file, `kind is ${JSON.stringify(metadata.kind)}, not '${OPTIMIZER_KIND(this.kind)}'`);
    const step = Number(metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(file, `metadata step ${JSON.stringify(metadata.step)} is not a step count`);
    const trainable = this.parameters().filter((p) => p.trainable);
    const all = matchTensors(file, tensors, trainable.flatMap((p) => [[`${p.name}.m`, p.shape], [`${p.name}.v`, p.shape]] as [string, number[]][]));
    const m: Record<string, Tensor> = {};
    const v: Record<string, Tensor> = {};
    for (const p of trainable) {
      m[p.name] = all[`${p.name}.m`];
      v[p.name] = all[`${p.name}.v`];
    }
    await this.call(() => this.native.setState({ optimizer: { step, m, v } }));
  }

  // Turns the binding's synchronous argument errors into rejections, as an async API should.
  protected async call<T>(f: () => Promise<T>): Promise<T> {
    return f();
  }
}

/** Reads a checkpoint and checks its metadata: a kind amae knows (one of `kinds` when given), the
 * contrast registry of this version, a config that is a JSON object. */
export async function readCheckpoint(file: string, kinds: readonly ModelKind[] = KINDS): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(file);
  const kind = metadata.kind as ModelKind;
  if (!kinds.includes(kind))
    throw new CheckpointError(file, `kind is ${JSON.stringify(metadata.kind)}, not ${kinds.map((k) => `'${k}'`).join(' or ')}`);
  checkRegistry(file, metadata.contrasts);
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch (e) {
    throw new CheckpointError(file, `metadata config is not valid JSON (${(e as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new CheckpointError(file, 'metadata config is not a JSON object');
  return { kind, config: config as Record<string, unknown>, tensors };
}

/** Builds a model from a checkpoint's config, re-labelling a bad config as the checkpoint's fault. */
export function fromCheckpointConfig<M>(file: string, build: () => M): M {
  try {
    return build();
  } catch (e) {
    throw new CheckpointError(file, `metadata config: ${(e as Error).message}`);
  }
}

function checkRegistry(file: string, contrasts: string | undefined): void {
  if (contrasts === undefined) return;
  let list: unknown;
  try {
    list = JSON.parse(contrasts);
  } catch {
    list = undefined;
  }
  if (JSON.stringify(list) !== JSON.stringify(CONTRASTS))
    throw new CheckpointError(file, `metadata contrasts ${contrasts} differ from this version's registry ${JSON.stringify(CONTRASTS)}`);
}

// The expected tensors, float32, finite and shaped as listed; a missing, extra, mis-shaped or
// non-finite one is an error naming it (a NaN weight would make every prediction silently wrong).
function matchTensors(file: string, tensors: Map<string, StoredTensor>, expected: [string, number[]][]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(file, `tensor ${name} is missing`);
    if ('int' in t) throw new CheckpointError(file, `tensor ${name} holds integers, expected float32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError(file, `tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new CheckpointError(file, `tensor ${name} holds ${t.data[bad]} at element ${bad}`);
    out[name] = { data: t.data, shape: t.shape };
  }
  const known = new Set(expected.map(([n]) => n));
  for (const name of tensors.keys()) if (!known.has(name)) throw new CheckpointError(file, `unexpected tensor ${name}`);
  return out;
}
