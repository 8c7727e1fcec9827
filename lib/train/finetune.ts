// The fine-tuning run (spec §4): a segmentation model (UNETR, Adaptive UNETR, U-Net), fresh or
// from an AMAE checkpoint (the transfer of spec §3) or a segmentation checkpoint, trained on the
// labelled training cases with MONAI's soft Dice loss, AdamW under a warm-up + cosine schedule, on
// crops of the model's size (half centred on a lesion voxel, half random) with flips and intensity
// scale/shift; validated every N epochs by sliding-window inference over the whole prepared
// validation volumes, the best mean Dice kept as best.safetensors. The run folder (metrics.jsonl,
// checkpoints, last.json, exact resume) is lib/train/run.ts's, shared with pre-training.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CONTRASTS } from '../data/contrasts.js';
import { openDataset, type Dataset } from '../data/dataset.js';
import { createLoader } from '../data/loader.js';
import { prepareSubject, type PreparedSubject, type PreprocessOptions } from '../data/preprocess.js';
import { loadSubject, type SubjectSpec } from '../data/subject.js';
import type { Device } from '../device.js';
import { segmentVolume } from '../infer/segment.js';
import { Amae } from '../models/amae.js';
import { readCheckpoint } from '../models/model.js';
import {
  ADAPTIVE_UNETR_PRESETS,
  type AnySegmentationModel,
  type SegmentationKind,
  type SegmentationPreset,
  createSegmentationModel,
  loadSegmentationModel,
  UNET_PRESETS,
  UNETR_PRESETS,
} from '../models/segmentation.js';
import { amaeToAdaptiveUnetr, amaeToUnetr } from '../models/transfer.js';
import { TrainingError } from './errors.js';
import { LAST_FILE, METRICS_FILE, RunFolder, type ScheduleDefaults, type StepProgress, type TrainingOptions, type TrainingRecord, checkDevice, integerOption, realOption, trainingSettings } from './run.js';
import { lrAt } from './schedule.js';

export interface FinetuneOptions extends TrainingOptions<FinetuneProgress> {
  model: SegmentationKind;
  /** Sizes of spec §7 and the training defaults (FINETUNE_DEFAULTS); default 'demo'. */
  preset?: SegmentationPreset;
  /** An AMAE checkpoint (transferred: its encoder decides the ViT; p must be 16) or a checkpoint
   * of the same segmentation model to continue from. */
  init?: string;
  /** UNETR and U-Net: the channel slots (default ADC, TRACE, T2). */
  slots?: readonly string[];
  /** Drop each contrast with this probability in training (Adaptive UNETR: removed; UNETR, U-Net:
   * its slot zeroed), at least one kept; default 0. */
  modalityDropout?: number;
  /** Validate every this many epochs (and after the last); default: per preset. */
  valEvery?: number;
}

export interface FinetuneProgress extends StepProgress {
  /** The latest validation mean Dice, once there is one. */
  valDice?: number;
}

export interface FinetuneSummary {
  steps: number;
  epochs: number;
  finalLoss: number;
  /** The best validation mean Dice and its epoch (1-based: after that many epochs). */
  bestDice: number;
  bestEpoch: number;
  resumedFrom?: number;
  files: { best: string; final: string; metrics: string; checkpoint: string };
}

/** A preset's training defaults: small models on small data want a far larger rate than the paper's. */
export const FINETUNE_DEFAULTS: Record<SegmentationPreset, ScheduleDefaults & { valEvery: number }> = {
  tiny: { epochs: 40, batchSize: 2, lr: () => 3e-3, warmupEpochs: () => 2, valEvery: 10 },
  demo: { epochs: 60, batchSize: 2, lr: () => 2e-3, warmupEpochs: () => 3, valEvery: 10 },
  paper: { epochs: 200, batchSize: 2, lr: () => 1e-4, warmupEpochs: () => 10, valEvery: 10 },
};

export const FINETUNE_FILES = { best: 'best.safetensors', final: 'model.safetensors', metrics: METRICS_FILE, checkpoint: LAST_FILE } as const;

/** Everything that decides the run's numbers: recorded in last.json, compared on resume. */
interface RunRecord extends TrainingRecord {
  kind: SegmentationKind;
  config: Record<string, unknown>;
  init: { file: string; digest: string } | null;
  data: { name: string; training: number; validation: number; digest: string };
  modalityDropout: number;
  valEvery: number;
}

export async function finetune(options: FinetuneOptions): Promise<FinetuneSummary> {
  const device = checkDevice(options.device ?? 'cpu');
  const dataset = typeof options.data === 'string' ? await openDataset(options.data) : options.data;
  const { training, validation } = splits(dataset);
  const fresh = await initialModel(options, device);
  const run = await settings(options, dataset, fresh, training, validation);
  const folder = new RunFolder<RunRecord>(options.out);
  const file = (name: string) => folder.file(name);

  const batchesPerEpoch = Math.ceil(training.length / run.batchSize);
  const totalSteps = run.epochs * batchesPerEpoch;
  const schedule = { lr: run.lr, minLr: run.minLr, warmupSteps: run.warmupEpochs * batchesPerEpoch, totalSteps };
  let model = fresh;
  let step = 0;
  let epoch = 0;
  let finalLoss = NaN;
  let best = { dice: -1, epoch: 0 };
  let resumedFrom: number | undefined;
  if (options.resume) {
    const { last, lastLine } = await folder.resume(run);
    model = await loadSegmentationModel(file(last.weights), { device });
    await model.loadOptimizer(file(last.optimizer));
    ({ step, epoch } = last);
    resumedFrom = step;
    finalLoss = (lastLine?.loss as number | undefined) ?? NaN;
    best = (last.state?.best as typeof best | undefined) ?? best;
  } else {
    await folder.create();
  }

  const validationSet = await prepareAll(validation, dataset, run.preprocess);
  let valDice: number | undefined;
  const validate = async () => {
    const dice = await meanDice(model, validationSet);
    valDice = dice;
    await folder.log({ step, epoch: epoch - 1, val_dice: dice });
    if (dice > best.dice) {
      best = { dice, epoch };
      await model.save(file(FINETUNE_FILES.best));
    }
  };

  if (epoch < run.epochs) {
    const loader = createLoader(training, {
      roi: [...model.config.size],
      batchSize: run.batchSize,
      shuffle: true,
      seed: run.seed,
      epochs: run.epochs,
      startEpoch: epoch,
      augment: {
        crops: 'lesion-random',
        flips: true,
        intensity: true,
        ...(run.modalityDropout > 0 && { modalityDropout: { p: run.modalityDropout, zeroFill: run.kind !== 'adaptive-unetr' } }),
      },
      preprocess: run.preprocess,
      load: { where: dataset.source },
      workers: options.workers,
    });
    try {
      for await (const batch of loader) {
        const lr = lrAt(step, schedule);
        const subjects = batch.subjects.map((s) => ({ contrasts: modelInputs(model, s.contrasts, s.shape), label: Float32Array.from(s.label!, (v) => (v > 0 ? 1 : 0)) }));
        // AdamW: PyTorch's β (0.9, 0.999) as MONAI's fine-tuning recipes use it, weight decay 0.05
        // (spec §4) except on biases, norms and embeddings.
        const result = await model.trainStep(model.pack(subjects), { lr, beta1: 0.9, beta2: 0.999, weightDecay: 0.05, maxGradNorm: run.maxGradNorm });
        step++;
        finalLoss = result.loss;
        await folder.log({ step, epoch: batch.epoch, loss: result.loss, lr, grad_norm: result.gradNorm, updated: result.updated });
        options.onProgress?.({ step, totalSteps, epoch: batch.epoch, epochs: run.epochs, loss: result.loss, lr, valDice });
        if (batch.index === batchesPerEpoch - 1) {
          epoch = batch.epoch + 1;
          const validateNow = validationSet.length > 0 && (epoch % run.valEvery === 0 || epoch === run.epochs);
          if (validateNow) await validate();
          // A checkpoint after every validation (and at the end): the best so far is part of it.
          if (validateNow || epoch === run.epochs) await folder.checkpoint(model, run, step, epoch, { best });
        }
      }
    } finally {
      await folder.close();
    }
  }
  await model.save(file(FINETUNE_FILES.final));
  if (validationSet.length === 0) {
    // Nothing to choose by: the last weights are the best.
    await model.save(file(FINETUNE_FILES.best));
    best = { dice: NaN, epoch: run.epochs };
  }
  return {
    steps: step,
    epochs: run.epochs,
    finalLoss,
    bestDice: best.dice,
    bestEpoch: best.epoch,
    ...(resumedFrom !== undefined && { resumedFrom }),
    files: { best: file(FINETUNE_FILES.best), final: file(FINETUNE_FILES.final), metrics: file(FINETUNE_FILES.metrics), checkpoint: file(FINETUNE_FILES.checkpoint) },
  };
}

/**
 * Training and validation cases, labelled. Without a validation split, the last fifth of the
 * training cases (at least one, in the data set's order) validates, as MONAI's tutorials hold out
 * 20 %; a data set of a single labelled case trains without validation.
 */
function splits(dataset: Dataset): { training: SubjectSpec[]; validation: SubjectSpec[] } {
  const labelled = (c: SubjectSpec) => c.label !== undefined;
  const all = dataset.training.filter(labelled);
  if (all.length === 0) throw new TrainingError(`${dataset.source}: no labelled training case to fine-tune on`);
  const validation = dataset.validation.filter(labelled);
  if (validation.length > 0 || all.length < 2) return { training: all, validation };
  const held = Math.max(1, Math.floor(all.length / 5));
  return { training: all.slice(0, all.length - held), validation: all.slice(all.length - held) };
}

/** The fresh model: from the preset, from a transferred AMAE, or from a segmentation checkpoint. */
async function initialModel(o: FinetuneOptions, device: Device): Promise<AnySegmentationModel> {
  const preset = o.preset ?? 'demo';
  if (!Object.hasOwn(FINETUNE_DEFAULTS, preset)) throw new TrainingError(`unknown preset '${preset}'; presets: tiny, demo, paper`);
  if (!['unetr', 'adaptive-unetr', 'unet'].includes(o.model)) throw new TrainingError(`unknown model '${o.model}'; models: unetr, adaptive-unetr, unet`);
  const seed = integerOption('seed', o.seed ?? 0, 0);
  if (o.slots && o.model === 'adaptive-unetr') throw new TrainingError('slots: Adaptive UNETR takes every contrast a subject has; slots are for unetr and unet');
  try {
    const base = { unetr: UNETR_PRESETS, 'adaptive-unetr': ADAPTIVE_UNETR_PRESETS, unet: UNET_PRESETS }[o.model][preset];
    if (!o.init) return createSegmentationModel(o.model, { ...base, ...(o.slots && { slots: o.slots }) } as never, { seed, device });
    const { kind } = await readCheckpoint(o.init);
    if (kind === 'amae') {
      if (o.model === 'unet') throw new TrainingError(`init ${o.init} is an AMAE checkpoint: it transfers to unetr and adaptive-unetr, not to a U-Net`);
      const amae = await Amae.load(o.init, { device });
      const featureSize = (base as { featureSize: number }).featureSize;
      return o.model === 'unetr' ? amaeToUnetr(amae, { featureSize, slots: o.slots, seed, device }) : amaeToAdaptiveUnetr(amae, { featureSize, seed, device });
    }
    if (kind !== o.model) throw new TrainingError(`init ${o.init} is a ${kind} checkpoint, not ${o.model}`);
    return await loadSegmentationModel(o.init, { device });
  } catch (e) {
    if (e instanceof TrainingError || (e as Error).name === 'CheckpointError') throw e;
    throw new TrainingError((e as Error).message);
  }
}

async function settings(o: FinetuneOptions, dataset: Dataset, model: AnySegmentationModel, training: SubjectSpec[], validation: SubjectSpec[]): Promise<RunRecord> {
  const d = FINETUNE_DEFAULTS[o.preset ?? 'demo'];
  const common = trainingSettings(o, d, { patch: 16, size: model.config.size });
  const modalityDropout = realOption('modalityDropout', o.modalityDropout ?? 0, (v) => v >= 0 && v < 1, 'in [0, 1)');
  const valEvery = integerOption('valEvery', o.valEvery ?? Math.min(d.valEvery, common.epochs), 1);
  const digestOf = (cases: SubjectSpec[]) => createHash('sha256').update(JSON.stringify(cases.map((c) => [c.id, Object.keys(c.images)]))).digest('hex').slice(0, 16);
  // The initial weights' file by content, so that a resume from another file of the same name is refused.
  const init = o.init ? { file: o.init, digest: createHash('sha256').update(await readFile(o.init)).digest('hex').slice(0, 16) } : null;
  return {
    kind: model.kind as SegmentationKind,
    config: model.config as Record<string, unknown>,
    init,
    data: { name: dataset.name, training: training.length, validation: validation.length, digest: digestOf([...training, ...validation]) },
    ...common,
    modalityDropout,
    valEvery,
  };
}

async function prepareAll(cases: SubjectSpec[], dataset: Dataset, preprocess: PreprocessOptions): Promise<PreparedSubject[]> {
  const out: PreparedSubject[] = [];
  for (const spec of cases) out.push(prepareSubject(await loadSubject(spec, { where: dataset.source }), preprocess));
  return out;
}

/** The contrasts of a subject the model takes; a subject left with none gets the model's first slot
 * zero-filled (what the model sees for a subject missing every slot). */
function modelInputs(model: AnySegmentationModel, contrasts: readonly { id: number; data: Float32Array }[], shape: readonly number[]) {
  const accepted = new Set(model.contrasts.map((c) => CONTRASTS.indexOf(c)));
  const kept = contrasts.filter((c) => accepted.has(c.id)).map((c) => ({ id: c.id, data: c.data }));
  if (kept.length === 0) kept.push({ id: CONTRASTS.indexOf(model.contrasts[0]), data: new Float32Array(shape[0] * shape[1] * shape[2]) });
  return kept;
}

/** Dice of the mask thresholded at 0.5 (both empty: 1), per subject, on the prepared grid. */
export function dice(prob: ArrayLike<number>, label: ArrayLike<number>): number {
  let inter = 0;
  let p = 0;
  let g = 0;
  for (let i = 0; i < label.length; i++) {
    const a = prob[i] >= 0.5 ? 1 : 0;
    const b = label[i] > 0 ? 1 : 0;
    inter += a & b;
    p += a;
    g += b;
  }
  return p + g === 0 ? 1 : (2 * inter) / (p + g);
}

/** Mean Dice over whole prepared volumes by sliding-window inference (spec §4). */
export async function meanDice(model: AnySegmentationModel, subjects: PreparedSubject[]): Promise<number> {
  let sum = 0;
  for (const s of subjects) {
    const prob = await segmentVolume(model, modelInputs(model, s.contrasts, s.shape), s.shape);
    sum += dice(prob, s.label!);
  }
  return subjects.length ? sum / subjects.length : NaN;
}
