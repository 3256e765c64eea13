/**
 * provenance.json: how an output was made, in a form that is the same bytes for the same recipe on the same
 * backend (no timestamps, no absolute paths, no output location). Its sha256 is stamped into the exported
 * model.json (`userDefinedMetadata.mcbuild.provenance`), so a model copied away from its folder still names
 * the record it came from.
 */
import { isAbsolute, relative, sep } from 'node:path';
import { datasetFingerprint } from '../data/index.js';
import type { Check } from '../gate/index.js';
import type { Plan, PlanInputs } from '../plan/index.js';
import { findProjectRoot } from '../recipe/index.js';
import type { Report } from '../report/index.js';
import { sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';

export const PROVENANCE_FILE = 'provenance.json';

export interface Provenance {
  generator: 'mcbuild';
  mcbuild: string;
  /** The recipe as resolved (extends, --set and matrix applied, defaults filled), paths relative to the project root. */
  recipe: { name: string; file: string; resolved: Record<string, unknown> };
  variant?: { name: string; values: Record<string, unknown> };
  backend: string;
  versions: Record<string, string>;
  /** Content digests of what the build read: the baseline model's files, and each data role's fingerprint (with its digest). */
  inputs: { model?: { path: string; digest: string }; data: Record<string, Record<string, unknown>> };
  /** Every step with its key and everything the key hashes (sha256 of canonical JSON of keyInputs = key). */
  steps: { id: string; title: string; key: string; keyInputs: Record<string, unknown> }[];
  metrics: Report['metrics'];
  /** As in report.json: a latency check keeps its name, limit and pass; its measurement is in run.json. */
  thresholds: Check[];
  verdict: 'pass' | 'fail';
}

/** `report` is the machine-free one written to report.json (src/report/run.ts splitReport). */
export function buildProvenance(plan: Plan, inputs: PlanInputs, report: Report): Provenance {
  const root = findProjectRoot(plan.recipe.file);
  const shown = (p: string) => relative(root, p).split(sep).join('/');
  const recipe = plan.recipe;
  // Where the output goes is not how it was made (it is in no step key): two builds into two folders agree.
  const { output: _output, ...document } = recipe.document;
  const data: Record<string, Record<string, unknown>> = {};
  for (const role of ['eval', 'calibration', 'train'] as const) {
    const spec = recipe.data[role];
    if (spec) data[role] = datasetFingerprint(spec, inputs.datasets);
  }
  if (recipe.model.kind === 'train') data['model.train'] = datasetFingerprint(recipe.model.train.data, inputs.datasets);
  return {
    generator: 'mcbuild',
    mcbuild: MCBUILD_VERSION,
    recipe: {
      name: recipe.name,
      file: shown(recipe.file),
      resolved: relativePaths(document, root) as Record<string, unknown>,
    },
    ...(recipe.variant ? { variant: recipe.variant } : {}),
    backend: report.backend,
    versions: report.versions,
    inputs: {
      ...(recipe.model.kind === 'file' && inputs.modelDigest
        ? { model: { path: shown(recipe.model.path), digest: `sha256:${inputs.modelDigest}` } }
        : {}),
      data,
    },
    steps: plan.steps.map((s) => ({ id: s.id, title: s.title, key: s.key, keyInputs: s.keyInputs })),
    metrics: report.metrics,
    thresholds: report.thresholds,
    verdict: report.verdict,
  };
}

/** Every absolute path inside the project, made relative to it with forward slashes; other values as they are. */
function relativePaths(value: unknown, root: string): unknown {
  if (typeof value === 'string')
    return isAbsolute(value) && (value === root || value.startsWith(root + sep))
      ? relative(root, value).split(sep).join('/') || '.'
      : value;
  if (Array.isArray(value)) return value.map((v) => relativePaths(v, root));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relativePaths(v, root)]));
  return value;
}

export function provenanceBytes(p: Provenance): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(p, null, 2)}\n`);
}

/** `sha256:<hex>` of the bytes: the form stamped into model.json and checked by `mcbuild verify`. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/**
 * model.json with the provenance digest in `userDefinedMetadata.mcbuild.provenance`. Only the exported copy
 * carries it (the cache keeps the model as the pass wrote it). TF.js keeps userDefinedMetadata as opaque user
 * data (model.getUserDefinedMetadata()), so stock loaders and mcbuild/runtime read the model as before.
 */
export function stampModelJson(bytes: Uint8Array, digest: string): Uint8Array {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  const meta = (
    typeof json.userDefinedMetadata === 'object' && json.userDefinedMetadata !== null ? json.userDefinedMetadata : {}
  ) as Record<string, unknown>;
  const mcb = (typeof meta.mcbuild === 'object' && meta.mcbuild !== null ? meta.mcbuild : {}) as Record<
    string,
    unknown
  >;
  json.userDefinedMetadata = { ...meta, mcbuild: { ...mcb, provenance: digest } };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** The digest a model.json was stamped with, or undefined. */
export function stampOf(json: unknown): string | undefined {
  const p = (json as { userDefinedMetadata?: { mcbuild?: { provenance?: unknown } } } | null)?.userDefinedMetadata
    ?.mcbuild?.provenance;
  return typeof p === 'string' ? p : undefined;
}
