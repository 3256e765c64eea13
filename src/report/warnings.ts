/**
 * What a build warns about from its results (pure, so a fully cached build warns as the first did): passes
 * whose work was legitimately empty (recorded in their step meta by the runner), and an output bigger than
 * its source, with the passes that grew it. Printed as warning lines and recorded in report.json.
 */
import type { Execution } from '../execute/index.js';
import type { Metrics } from '../metrics/index.js';
import { MODEL_JSON } from '../model/index.js';
import type { Plan } from '../plan/index.js';
import { formatBytes } from '../util/bytes.js';

/** report.json's `size`: the source as stored, the source with every weight float32, the output. */
export interface SizeSummary {
  sourceBytes: number;
  /** The source's model.json plus 4 bytes per parameter: what it weighs with every weight decoded to float32. */
  float32Bytes: number;
  outputBytes: number;
}

export function sizeSummary(baseline: Metrics, result: Metrics): SizeSummary {
  const json = baseline.files.find((f) => f.name === MODEL_JSON)?.bytes ?? 0;
  return { sourceBytes: baseline.sizeBytes, float32Bytes: json + 4 * baseline.params, outputBytes: result.sizeBytes };
}

export function buildWarnings(plan: Plan, exec: Execution): string[] {
  const warnings: string[] = [];
  const passes = plan.steps.filter((s) => s.spec.kind === 'pass');
  for (const s of passes) {
    const w = exec.stepMeta[s.id]?.warnings;
    if (Array.isArray(w)) warnings.push(...w.filter((x): x is string => typeof x === 'string'));
  }
  // The weights decide: model.json grows by a few bytes when a pass records what it did (pruned weights).
  const [source, output] = [weightBytes(exec.baseline), weightBytes(exec.result)];
  if (output > source) {
    const size = (id: string | undefined) => exec.stepMeta[id ?? '']?.sizeBytes;
    const grew = passes.flatMap((s) => {
      const [before, after] = [size(s.inputs[0]), size(s.id)];
      return typeof before === 'number' && typeof after === 'number' && after > before
        ? [`${s.id} (${formatBytes(before)} → ${formatBytes(after)})`]
        : [];
    });
    warnings.push(
      `the output's weights (${formatBytes(output)}) are bigger than the source model's (${formatBytes(source)})${grew.length ? `; grown by ${grew.join(', ')}` : ''}. A tensor a pass changes is stored in the form that pass writes (float32 values, per-channel scales), which can take more bytes than the source's: quantize after it, choose a narrower form, or drop it.`,
    );
  }
  return warnings;
}

/** Bytes of the weight shards: every file but model.json. */
function weightBytes(m: Metrics): number {
  return m.sizeBytes - (m.files.find((f) => f.name === MODEL_JSON)?.bytes ?? 0);
}
