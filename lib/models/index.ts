// Typed handles over the native models, their batches, masks and checkpoints.
export * from './amae.js';
export * from './model.js';
export * from './segmentation.js';
export * from './transfer.js';
export * from './batch.js';
export * from './masking.js';
export * from './safetensors.js';
