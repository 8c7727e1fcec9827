// Typed handles over the native models, their batches, masks and checkpoints.
export * from './amae.js';
export { Model, type ModelKind, type ModelOptions, type TrainStepOptions, type TrainStepResult } from './model.js';
export * from './segmentation.js';
export { type TransferOptions, amaeToAdaptiveUnetr, amaeToUnetr } from './transfer.js';
export * from './batch.js';
export * from './masking.js';
export * from './safetensors.js';
