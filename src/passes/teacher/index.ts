/**
 * Learning from a teacher, for the passes that train (finetune, scheduled prune) and distill: the options and
 * their resolution (./options.ts) and the losses (./loss.ts). The engine-side preparation (./train.ts) is
 * imported lazily by the passes' apply(), so planning never loads it.
 */
export {
  describeTeacher,
  readsLabels,
  resolveTeacher,
  teacherModels,
  teacherSchema,
  TEACHER_DEFAULTS,
  TEACHER_OPTIONS,
  TEACHER_STATS,
  type PreviousRule,
  type TeacherOptions,
} from './options.js';
export {
  distillationLoss,
  isDistribution,
  MIN_PROBABILITY,
  outputMse,
  soften,
  softTargetLoss,
  targetBatch,
  variance,
} from './loss.js';
