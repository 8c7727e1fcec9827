// The training layer's public API.
export { TrainingError } from './errors.js';
export { PRETRAIN_DEFAULTS, PRETRAIN_FILES, pretrain, type PretrainMetrics, type PretrainOptions, type PretrainProgress, type PretrainSummary } from './pretrain.js';
export { lrAt, type Schedule } from './schedule.js';
export { FINETUNE_DEFAULTS, FINETUNE_FILES, finetune, type FinetuneOptions, type FinetuneProgress, type FinetuneSummary } from './finetune.js';
