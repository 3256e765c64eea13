import type { ScheduleSpec } from '../recipe/index.js';

/**
 * The learning rate for batch `step` (0-based) of `total`, given `batchesPerEpoch`. Pure, so it is tested on
 * its own and the same schedule gives the same numbers wherever it runs.
 */
export function learningRateAt(
  base: number,
  schedule: ScheduleSpec,
  step: number,
  total: number,
  batchesPerEpoch: number,
): number {
  const warmup = schedule.warmupBatches ?? 0;
  if (step < warmup) return (base * (step + 1)) / warmup;
  switch (schedule.type) {
    case 'constant':
      return base;
    case 'cosine': {
      const min = schedule.minLearningRate ?? 0;
      const span = Math.max(1, total - warmup - 1);
      const progress = Math.min(1, (step - warmup) / span);
      return min + ((base - min) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
    case 'step': {
      const epoch = Math.floor(step / batchesPerEpoch);
      return base * (schedule.gamma ?? 0.5) ** Math.floor(epoch / (schedule.stepEpochs ?? 1));
    }
  }
}
