// The segmentation models of spec §3 as typed handles over the native models: UNETR (MONAI's,
// contrasts stacked into channel slots, a missing slot a zero volume), Adaptive UNETR (the AMAE
// tokenizer and encoder over every contrast a subject has, each skip max-pooled over them) and the
// U-Net baseline (slots as UNETR). Each takes subjects with any contrasts and, for the loss, a
// label; forward gives logits [S, classes, H, W, D] and, with labels, the soft Dice loss.
import { CONTRASTS, type ContrastName, contrastName } from '../data/contrasts.js';
import type { Device } from '../device.js';
import type { NativeBatch } from '../native.js';
import type { Tensor } from '../tensor.js';
import type { ContrastVolume } from './batch.js';
import { type Checkpoint, Model, type ModelKind, type ModelOptions, fromCheckpointConfig, readCheckpoint } from './model.js';

/** The default channel slots of UNETR and U-Net (spec §3). */
export const DEFAULT_SLOTS: readonly ContrastName[] = ['ADC', 'TRACE', 'T2'];

interface UnetrShape {
  /** Volume size [H, W, D], each divisible by 16. */
  size: readonly [number, number, number];
  /** The patch size; the UNETR decoder fixes it at 16 (spec §3). */
  patch?: 16;
  /** F, MONAI's feature_size. */
  featureSize: number;
  /** E (hidden_size), depth (num_layers), heads (num_heads); MLP width mlpRatio·E (mlp_dim). */
  embedDim: number;
  depth: number;
  heads: number;
  mlpRatio?: number;
  /** Output channels (sigmoid each); default 1. */
  classes?: number;
}

export interface UnetrConfig extends UnetrShape {
  /** The contrasts stacked as input channels, in order (names or aliases; default ADC, TRACE, T2). */
  slots?: readonly string[];
}

export interface AdaptiveUnetrConfig extends UnetrShape {
  /** The tokenizer's modality code and position embedding, as AMAE's (spec §2.1–2.2). */
  code?: 'onehot' | 'learned';
  posEmbed?: 'sincos' | 'learnable';
}

export interface UnetConfig {
  size: readonly [number, number, number];
  slots?: readonly string[];
  /** Channels of the five levels (spec §3: 16, 32, 64, 128, 256). */
  channels: readonly [number, number, number, number, number];
  classes?: number;
}

export type SegmentationKind = Exclude<ModelKind, 'amae'>;
export type SegmentationPreset = 'tiny' | 'demo' | 'paper';

// Presets (spec §7): the encoders are AMAE's presets, so a pre-trained AMAE transfers as it is.
const VIT = {
  tiny: { size: [32, 32, 32], featureSize: 8, embedDim: 48, depth: 3, heads: 4 },
  demo: { size: [64, 64, 64], featureSize: 8, embedDim: 96, depth: 4, heads: 4 },
  paper: { size: [96, 96, 96], featureSize: 16, embedDim: 768, depth: 12, heads: 12 },
} as const;
const UNET_CHANNELS = { tiny: [4, 8, 16, 32, 64], demo: [8, 16, 32, 64, 128], paper: [16, 32, 64, 128, 256] } as const;

export const UNETR_PRESETS: Record<SegmentationPreset, UnetrConfig> = VIT;
export const ADAPTIVE_UNETR_PRESETS: Record<SegmentationPreset, AdaptiveUnetrConfig> = VIT;
export const UNET_PRESETS: Record<SegmentationPreset, UnetConfig> = {
  tiny: { size: VIT.tiny.size, channels: UNET_CHANNELS.tiny },
  demo: { size: VIT.demo.size, channels: UNET_CHANNELS.demo },
  paper: { size: VIT.paper.size, channels: UNET_CHANNELS.paper },
};

export type ResolvedUnetrConfig = Required<Omit<UnetrConfig, 'slots'>> & { slots: ContrastName[] };
export type ResolvedAdaptiveUnetrConfig = Required<AdaptiveUnetrConfig>;
export type ResolvedUnetConfig = Required<Omit<UnetConfig, 'slots'>> & { slots: ContrastName[] };

/** One subject for a segmentation model: some contrasts (registry ids, volumes at the model's
 * size) and, for the loss, its label: a [H][W][D] mask (one class) or [classes][H][W][D]. */
export interface SegmentationSubject {
  contrasts: ContrastVolume[];
  label?: Float32Array;
}

/** The logits of a batch and, where it had labels, the soft Dice loss. */
export interface SegmentationOutput {
  /** [S, classes, H, W, D]; probabilities are their sigmoid. */
  logits: Tensor;
  loss?: number;
}

function presetOf<C>(table: Record<SegmentationPreset, C>, name: string, what: string): C {
  if (!Object.hasOwn(table, name)) throw new RangeError(`unknown ${what} preset '${name}'; presets: ${Object.keys(table).join(', ')}`);
  return table[name as SegmentationPreset];
}

function resolveSlots(slots: readonly string[] | undefined): ContrastName[] {
  const names = (slots ?? DEFAULT_SLOTS).map((s, i) => contrastName(s, `config.slots[${i}]`));
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) throw new RangeError(`config.slots[${i}] = ${n} appears twice`);
  });
  return names;
}

// The native configuration: slots as registry ids.
const withSlotIds = <C extends { slots: ContrastName[] }>(c: C) => ({ ...c, slots: c.slots.map((s) => CONTRASTS.indexOf(s)) });

export abstract class SegmentationModel<C extends { size: readonly [number, number, number]; classes: number }> extends Model<C> {
  /** The contrasts the model takes (UNETR, U-Net: its slots; Adaptive UNETR: every registry contrast). */
  abstract readonly contrasts: readonly ContrastName[];

  /** Packs subjects into a batch (see packSegmentation). */
  pack(subjects: readonly SegmentationSubject[]): NativeBatch {
    return packSegmentation(subjects, this.config.size, this.config.classes);
  }

  /** Logits [S, classes, H, W, D] and, where the batch has labels, the soft Dice loss. */
  async forward(batch: NativeBatch): Promise<SegmentationOutput> {
    const { loss, output } = await this.call(() => this.native.forward(batch));
    return loss === undefined ? { logits: output } : { logits: output, loss };
  }
}

export class Unetr extends SegmentationModel<ResolvedUnetrConfig> {
  readonly contrasts: readonly ContrastName[];
  constructor(config: UnetrConfig | SegmentationPreset, options: ModelOptions = {}) {
    const c = typeof config === 'string' ? presetOf(UNETR_PRESETS, config, 'UNETR') : config;
    const resolved: ResolvedUnetrConfig = { patch: 16, mlpRatio: 4, classes: 1, ...c, size: [...c.size] as never, slots: resolveSlots(c.slots) };
    super('unetr', resolved, withSlotIds(resolved), options);
    this.contrasts = resolved.slots;
  }
}

export class AdaptiveUnetr extends SegmentationModel<ResolvedAdaptiveUnetrConfig> {
  readonly contrasts: readonly ContrastName[] = CONTRASTS;
  constructor(config: AdaptiveUnetrConfig | SegmentationPreset, options: ModelOptions = {}) {
    const c = typeof config === 'string' ? presetOf(ADAPTIVE_UNETR_PRESETS, config, 'Adaptive UNETR') : config;
    const resolved: ResolvedAdaptiveUnetrConfig = { patch: 16, mlpRatio: 4, classes: 1, code: 'onehot', posEmbed: 'sincos', ...c, size: [...c.size] as never };
    super('adaptive-unetr', resolved, resolved, options);
  }
}

export class Unet extends SegmentationModel<ResolvedUnetConfig> {
  readonly contrasts: readonly ContrastName[];
  constructor(config: UnetConfig | SegmentationPreset, options: ModelOptions = {}) {
    const c = typeof config === 'string' ? presetOf(UNET_PRESETS, config, 'U-Net') : config;
    const resolved: ResolvedUnetConfig = { classes: 1, ...c, size: [...c.size] as never, channels: [...c.channels] as never, slots: resolveSlots(c.slots) };
    super('unet', resolved, withSlotIds(resolved), options);
    this.contrasts = resolved.slots;
  }
}

export type AnySegmentationModel = Unetr | AdaptiveUnetr | Unet;

/** A new segmentation model of `kind` from a configuration or a preset name. */
export function createSegmentationModel(
  kind: SegmentationKind,
  config: UnetrConfig | AdaptiveUnetrConfig | UnetConfig | SegmentationPreset,
  options: ModelOptions = {},
): AnySegmentationModel {
  if (kind === 'unetr') return new Unetr(config as UnetrConfig | SegmentationPreset, options);
  if (kind === 'adaptive-unetr') return new AdaptiveUnetr(config as AdaptiveUnetrConfig | SegmentationPreset, options);
  if (kind === 'unet') return new Unet(config as UnetConfig | SegmentationPreset, options);
  throw new RangeError(`unknown segmentation model '${kind as string}'; models: unetr, adaptive-unetr, unet`);
}

/** A segmentation model from a checkpoint written by save() (its kind read from the file), on
 * `options.device`: every tensor present, float32, finite and of its shape. */
export async function loadSegmentationModel(file: string, options: { device?: Device } = {}): Promise<AnySegmentationModel> {
  return fromSegmentationCheckpoint(file, await readCheckpoint(file, ['unetr', 'adaptive-unetr', 'unet']), options);
}

async function fromSegmentationCheckpoint(file: string, ckpt: Checkpoint, options: { device?: Device } = {}): Promise<AnySegmentationModel> {
  const model = fromCheckpointConfig(file, () => createSegmentationModel(ckpt.kind as SegmentationKind, ckpt.config as never, { device: options.device ?? 'cpu' }));
  await model.loadTensors(file, ckpt.tensors);
  return model;
}

/**
 * Packs subjects (each with 1..K distinct contrasts, in any order; all with labels or none) into
 * one batch: every contrast of every subject back to back, each subject's in registry order, and
 * the labels [S, classes, H, W, D].
 */
export function packSegmentation(subjects: readonly SegmentationSubject[], size: readonly [number, number, number], classes = 1): NativeBatch {
  const voxels = size[0] * size[1] * size[2];
  if (subjects.length < 1) throw new RangeError('pack: the batch needs at least one subject');
  const labelled = subjects[0].label !== undefined;
  const order: ContrastVolume[] = [];
  const offsets = [0];
  subjects.forEach((subject, s) => {
    const n = subject.contrasts.length;
    if (n < 1 || n > CONTRASTS.length) throw new RangeError(`subjects[${s}] has ${n} contrasts; 1 to ${CONTRASTS.length} are accepted`);
    const sorted = [...subject.contrasts].sort((a, b) => a.id - b.id);
    sorted.forEach((v, i) => {
      const where = `subjects[${s}].contrasts[${subject.contrasts.indexOf(v)}]`;
      if (!Number.isInteger(v.id) || v.id < 0 || v.id >= CONTRASTS.length) throw new RangeError(`${where}.id = ${v.id} is not a registry id in [0, ${CONTRASTS.length})`);
      if (i > 0 && v.id === sorted[i - 1].id) throw new RangeError(`${where}.id = ${v.id} appears twice in subject ${s}`);
      if (!(v.data instanceof Float32Array)) throw new TypeError(`${where}.data must be a Float32Array`);
      if (v.data.length !== voxels) throw new RangeError(`${where}.data has ${v.data.length} voxels; the model's size [${size}] needs ${voxels}`);
    });
    if ((subject.label !== undefined) !== labelled) throw new RangeError(`subjects[${s}] ${labelled ? 'lacks a label' : 'has a label'}: label all subjects of a batch or none`);
    if (subject.label !== undefined && subject.label.length !== classes * voxels)
      throw new RangeError(`subjects[${s}].label has ${subject.label.length} values; ${classes} class(es) at [${size}] need ${classes * voxels}`);
    order.push(...sorted);
    offsets.push(order.length);
  });
  const volumes = new Float32Array(order.length * voxels);
  order.forEach((v, n) => volumes.set(v.data, n * voxels));
  const batch: NativeBatch = {
    volumes: { data: volumes, shape: [order.length, ...size] },
    contrasts: Int32Array.from(order, (v) => v.id),
    subjects: Int32Array.from(offsets),
  };
  if (labelled) {
    const labels = new Float32Array(subjects.length * classes * voxels);
    subjects.forEach((s, i) => labels.set(s.label!, i * classes * voxels));
    batch.labels = { data: labels, shape: [subjects.length, classes, ...size] };
  }
  return batch;
}
