/**
 * What a pass step that changed nothing says: the error of a pass asked to change weights (with what the step
 * can see of why: the layers its overrides skipped, the reasons and counts in its own statistics, the weights it
 * was given), or the warning of a pass whose work can legitimately be empty.
 */
import { EmptyPassError } from '../../errors.js';
import { modelKind, type StoredModel, type WeightChanges } from '../../model/index.js';

export interface EmptyPassFacts {
  pass: string;
  /** "recipe.yaml:7:5": where the pass entry is written. */
  at: string;
  input: StoredModel;
  changes: WeightChanges;
  stats: Record<string, unknown>;
  /** Layers of the input, and those an override block told this pass to skip. */
  layers: number;
  skipped: readonly string[];
}

/** Whether the step changed nothing at all: no tensor, the same topology and the same shard size. */
export function changedNothing(input: StoredModel, output: StoredModel, changes: WeightChanges): boolean {
  return (
    changes.tensors === 0 &&
    (output.shardBytes ?? 0) === (input.shardBytes ?? 0) &&
    JSON.stringify(output.json) === JSON.stringify(input.json)
  );
}

/** The one paragraph of a pass asked to change weights that changed none. */
export function emptyPassMessage(f: EmptyPassFacts): string {
  const why: string[] = [];
  if (f.skipped.length > 0)
    why.push(
      f.skipped.length >= f.layers
        ? `override blocks skip every layer of its input (${f.layers})`
        : `override blocks skip ${f.skipped.length} of its input's ${f.layers} layers (${quoteSome(f.skipped)})`,
    );
  const reasons = skipReasons(f.stats);
  if (reasons) why.push(`it left weights alone because ${reasons}`);
  const counts = countStats(f.stats);
  if (counts) why.push(`its statistics: ${counts}`);
  if (f.changes.kept > 0)
    why.push(
      `${f.changes.kept} weight${f.changes.kept === 1 ? '' : 's'} it re-wrote ${f.changes.kept === 1 ? 'is' : 'are'} already stored by the source in a form as small or smaller (${storedForms(f.input)}), so ${f.changes.kept === 1 ? 'it keeps' : 'they keep'} that form and the output is not made bigger`,
    );
  const names = f.input.weightSpecs.map((w) => w.name);
  why.push(
    `the model's ${names.length} weight${names.length === 1 ? ' is' : 's are'} ${names.length ? `named like ${quoteSome(names)}` : 'none'}${modelKind(f.input.json) === 'graph' ? ' (a graph model: passes find kernels by the ops that read them: Conv2D, depthwise, MatMul and their fused forms)' : ''}`,
  );
  return `the ${f.pass} pass at ${f.at} ${EmptyPassError.PHRASE} (0 of ${f.changes.totalTensors} tensors): ${why.join('; ')}. A pass asked to change weights that changes none would build a model that is not what the recipe says. Check its options and the override blocks that configure it, or remove the pass.`;
}

/** The warning of a pass whose work can legitimately be empty. */
export function emptyPassWarning(pass: string, at: string, why: string): string {
  return `the ${pass} pass at ${at} changed nothing: ${why}.`;
}

function quoteSome(names: readonly string[], n = 3): string {
  const shown = names.slice(0, n).map((x) => JSON.stringify(x));
  return `${shown.join(', ')}${names.length > n ? `, … (${names.length} in all)` : ''}`;
}

/** The `reason`s of the lists of skipped things in a pass's statistics, most frequent first: "skipped by an override (3)". */
function skipReasons(stats: Record<string, unknown>): string {
  const count = new Map<string, number>();
  for (const value of Object.values(stats)) {
    if (!Array.isArray(value)) continue;
    for (const item of value as unknown[]) {
      const reason = (item as { reason?: unknown } | null)?.reason;
      if (typeof reason === 'string') count.set(reason, (count.get(reason) ?? 0) + 1);
    }
  }
  return [...count]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([reason, n]) => `${reason} (${n})`)
    .join(', ');
}

/** The whole-number statistics of a pass ("weightsQuantized 0, weightsSkipped 23"): what it counted. */
function countStats(stats: Record<string, unknown>): string {
  return Object.entries(stats)
    .filter(([, v]) => typeof v === 'number' && Number.isInteger(v))
    .slice(0, 6)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

function storedForms(model: StoredModel): string {
  const forms = new Set(model.weightSpecs.map((w) => w.quantization?.dtype ?? w.dtype));
  return [...forms].join(', ');
}
