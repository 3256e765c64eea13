/** The statistics a lowrank step reports, the same for layers and graph models. */
import type { DecomposedLayer } from './factor.js';
import { rankRule, RULES, type LowrankOptions } from './options.js';
import type { SkippedLayer } from './select.js';

export function lowrankStats(
  options: LowrankOptions,
  decomposed: DecomposedLayer[],
  skipped: SkippedLayer[],
  paramsBefore: number,
) {
  return {
    rule: RULES.find((k) => k in options)!,
    ...rankRule(options),
    layersDecomposed: decomposed.length,
    layersSkipped: skipped.length,
    paramsBefore,
    decomposed,
    skipped,
  };
}
