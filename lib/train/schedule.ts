// Learning-rate schedule of both training loops (spec §4): linear warm-up from 0, then a
// half-cosine decay to `minLr` at the last step — as MAE's and MONAI's warm-up-cosine schedulers.

export interface Schedule {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  minLr?: number;
}

/** The learning rate of 0-based step `step` (the update that makes the step count step + 1). */
export function lrAt(step: number, { lr, warmupSteps, totalSteps, minLr = 0 }: Schedule): number {
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const decay = Math.max(1, totalSteps - warmupSteps);
  const t = Math.min(1, (step - warmupSteps) / decay);
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
}
