// The AMAE pre-training model (spec §2) as a typed handle over the native model: presets,
// training steps, reconstructions for figures; weights and checkpoints come from the Model base.
import type { Device } from '../device.js';
import type { NativeAmaeConfig } from '../native.js';
import { patchifyBackward, patchifyForward } from '../ops/patch_embed.js';
import type { Tensor } from '../tensor.js';
import { Random } from '../util/random.js';
import { type AmaeBatch, type SubjectVolumes, packBatch } from './batch.js';
import { Model, type ModelOptions, fromCheckpointConfig, readCheckpoint } from './model.js';

/** The model's architecture: what a checkpoint records (where it runs is not part of it). */
export type AmaeConfig = Omit<NativeAmaeConfig, 'device'>;

/** How a model is created: its initialisation seed (default 0) and its device (default 'cpu'). */
export type AmaeOptions = ModelOptions;

/** Every field filled in (the defaults of the optional ones applied). */
export type ResolvedAmaeConfig = Required<AmaeConfig>;

const DEFAULTS = { mlpRatio: 4, normPix: false, code: 'onehot', posEmbed: 'sincos' } as const;

/**
 * Presets (spec §7). `tiny` is the unit-test model. `demo` pre-trains meaningfully on 2 CPU cores
 * in a few minutes: 64³ volumes in 16³ patches (P = 64 per contrast, so a 3-contrast subject keeps
 * a 57-token sequence at r = 0.7), a 4-block encoder of width 96 and a 2-block decoder at half
 * the width (48, as the paper's decoder is half its encoder) — both widths multiples of 6 for the
 * 3-D sin-cos tables. `paper` is the paper's model (a GPU's job).
 */
export const AMAE_PRESETS = {
  tiny: { size: [32, 32, 32], patch: 16, embedDim: 48, depth: 3, heads: 4, decoderDim: 48, decoderDepth: 1, decoderHeads: 4 },
  demo: { size: [64, 64, 64], patch: 16, embedDim: 96, depth: 4, heads: 4, decoderDim: 48, decoderDepth: 2, decoderHeads: 4 },
  paper: { size: [96, 96, 96], patch: 16, embedDim: 768, depth: 12, heads: 12, decoderDim: 384, decoderDepth: 8, decoderHeads: 12 },
} as const satisfies Record<string, AmaeConfig>;

export type AmaePreset = keyof typeof AMAE_PRESETS;

export interface ReconstructOptions {
  /** Mask ratio r (default 0.7) of the random masks… */
  maskRatio?: number;
  /** …drawn from Random(seed) (default 0). */
  seed?: number;
  /** Or explicit keep lists, one per contrast of the subject, in the subject's order. */
  keep?: ArrayLike<number>[];
}

export interface ContrastReconstruction {
  id: number;
  /** The input volume [H][W][D]. */
  original: Float32Array;
  /** The input with every masked patch set to 0 (what the encoder saw). */
  masked: Float32Array;
  /**
   * The decoder's prediction of every patch, masked and visible alike, as in MAE's figures (no
   * loss is computed on visible patches, so there they are rougher; MAE deliberately shows them
   * rather than pasting the input back). With normPix the prediction is in per-patch normalised
   * units and is mapped back with the original patch's mean and standard deviation.
   */
  reconstruction: Float32Array;
  /** The kept patch indices, ascending. */
  keep: Int32Array;
}

export function resolveConfig(config: AmaeConfig | AmaePreset): ResolvedAmaeConfig {
  if (typeof config === 'string') {
    if (!Object.hasOwn(AMAE_PRESETS, config)) throw new RangeError(`unknown AMAE preset '${config}'; presets: ${Object.keys(AMAE_PRESETS).join(', ')}`);
    config = AMAE_PRESETS[config];
  }
  // A device given in the configuration object is where to run, not architecture: not recorded.
  const { device: _device, ...architecture } = config as NativeAmaeConfig;
  return { ...DEFAULTS, ...architecture, size: [...config.size] } as ResolvedAmaeConfig;
}

export class Amae extends Model<ResolvedAmaeConfig> {
  /** Patches per contrast, P. */
  readonly patches: number;

  /** `options.device`, or else a `device` field of the configuration object, places the model. */
  constructor(config: AmaeConfig | AmaePreset | NativeAmaeConfig, { seed = 0, device }: AmaeOptions = {}) {
    const resolved = resolveConfig(config);
    super('amae', resolved, resolved, { seed, device: device ?? (typeof config === 'object' ? (config as NativeAmaeConfig).device : undefined) ?? 'cpu' });
    const [h, w, d] = this.config.size;
    const p = this.config.patch;
    this.patches = (h / p) * (w / p) * (d / p);
  }

  /** Packs subjects for this model (see packBatch); masks from `random` at `maskRatio`, or explicit. */
  pack(subjects: readonly SubjectVolumes[], options: { maskRatio?: number; random?: Random; keep?: ArrayLike<number>[][] } = {}): AmaeBatch {
    return packBatch(subjects, { size: this.config.size, patch: this.config.patch, ...options });
  }

  /** The loss and the prediction of every patch, pred [Nc, P, p³], without gradients. */
  async forward(batch: AmaeBatch): Promise<{ loss: number; pred: Tensor }> {
    const { loss, output } = await this.call(() => this.native.forward(batch));
    return { loss: loss ?? 0, pred: output };
  }

  /** Masks one subject, runs the model and returns, per contrast, the images of spec §4's Figure 2. */
  async reconstruct(subject: SubjectVolumes, options: ReconstructOptions = {}): Promise<ContrastReconstruction[]> {
    const { maskRatio = 0.7, seed = 0, keep } = options;
    // The subject's contrasts in registry order, as the batch holds them.
    const order = subject.contrasts.map((c, i) => ({ c, i })).sort((a, b) => a.c.id - b.c.id);
    const batch = this.pack([subject], { maskRatio, random: new Random(seed), keep: keep && [Array.from(keep)] });
    const { pred } = await this.forward(batch);
    const { size, patch, normPix } = this.config;
    const [Nc, P, V] = pred.shape;
    const original = await patchifyForward({ data: batch.volumes.data, shape: [Nc, 1, ...size] }, patch);
    const masked = new Float32Array(original.data);
    for (let n = 0; n < Nc; n++) {
      const kept = new Set(batch.keep.subarray(batch.keepOffsets[n], batch.keepOffsets[n + 1]));
      for (let q = 0; q < P; q++) if (!kept.has(q)) masked.fill(0, (n * P + q) * V, (n * P + q + 1) * V);
    }
    if (normPix) denormalize(pred.data, original.data, V);
    const toVolumes = async (rows: Float32Array) => (await patchifyBackward({ data: rows, shape: [Nc, P, V] }, patch, size)).data;
    const [maskedVol, reconVol] = await Promise.all([toVolumes(masked), toVolumes(pred.data)]);
    const voxels = size[0] * size[1] * size[2];
    const out: ContrastReconstruction[] = new Array(Nc);
    order.forEach(({ c, i }, n) => {
      out[i] = {
        id: c.id,
        original: c.data,
        masked: maskedVol.slice(n * voxels, (n + 1) * voxels),
        reconstruction: reconVol.slice(n * voxels, (n + 1) * voxels),
        keep: batch.keep.slice(batch.keepOffsets[n], batch.keepOffsets[n + 1]),
      };
    });
    return out;
  }

  /** A model from a file written by save(), on `options.device` (default 'cpu'); every tensor
   * must be present with its shape. */
  static async load(file: string, options: { device?: Device } = {}): Promise<Amae> {
    const { config, tensors } = await readCheckpoint(file, ['amae']);
    const model = fromCheckpointConfig(file, () => new Amae(config as AmaeConfig, { device: options.device ?? 'cpu' }));
    await model.loadTensors(file, tensors);
    return model;
  }
}

/** A new AMAE model from a configuration or a preset name, initialised from `seed`, on `device`. */
export function createAmae(config: AmaeConfig | AmaePreset | NativeAmaeConfig, options: AmaeOptions = {}): Amae {
  return new Amae(config, options);
}

// pred·σ + μ per row: the normPix target's statistics (unbiased variance + 1e-6) undone.
function denormalize(pred: Float32Array, target: Float32Array, width: number): void {
  for (let r = 0; r < pred.length / width; r++) {
    const row = target.subarray(r * width, (r + 1) * width);
    let mean = 0;
    for (const x of row) mean += x;
    mean /= width;
    let ss = 0;
    for (const x of row) ss += (x - mean) ** 2;
    const std = Math.sqrt(ss / (width - 1) + 1e-6);
    for (let j = r * width; j < (r + 1) * width; j++) pred[j] = pred[j] * std + mean;
  }
}
