/**
 * The last build's step keys and key inputs, per recipe file, kept next to the cache (`runs/`). They are
 * not trusted for anything: they only let a miss say which key input changed, and `explain` compare.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plan } from '../plan/index.js';
import type { Recipe } from '../recipe/index.js';
import { sha256Hex } from '../util/hash.js';

export interface StepRecord {
  key: string;
  keyInputs: Record<string, unknown>;
}

export type BuildRecord = Record<string, StepRecord>;

/** One record per recipe file, and per variant of a matrix (each variant has its own last build). */
function recordPath(cacheDir: string, recipe: Pick<Recipe, 'file' | 'variant'>): string {
  const id = recipe.variant ? `${recipe.file}#${recipe.variant.name}` : recipe.file;
  return join(cacheDir, 'runs', `${sha256Hex(id).slice(0, 32)}.json`);
}

export async function readBuildRecord(
  cacheDir: string,
  recipe: Pick<Recipe, 'file' | 'variant'>,
): Promise<BuildRecord | undefined> {
  try {
    return (JSON.parse(await readFile(recordPath(cacheDir, recipe), 'utf8')) as { steps: BuildRecord }).steps;
  } catch {
    return undefined; // none yet, or unreadable: it is only a hint
  }
}

/**
 * Records a build: its step keys and, for `mcbuild report <recipe>`, its report and the one before it (the
 * previous build's, when it differs: rebuilding unchanged keeps the pair to compare).
 */
export async function writeBuildRecord(cacheDir: string, plan: Plan, report?: unknown): Promise<void> {
  const file = recordPath(cacheDir, plan.recipe);
  const steps: BuildRecord = Object.fromEntries(plan.steps.map((s) => [s.id, { key: s.key, keyInputs: s.keyInputs }]));
  try {
    const old = await readRecord(file);
    let previousReport = old?.previousReport;
    if (old?.report !== undefined && JSON.stringify(old.report) !== JSON.stringify(report)) previousReport = old.report;
    await mkdir(join(cacheDir, 'runs'), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(
      tmp,
      JSON.stringify({
        recipe: plan.recipe.file,
        steps,
        ...(report === undefined ? {} : { report }),
        ...(previousReport === undefined ? {} : { previousReport }),
      }),
    );
    await rename(tmp, file);
  } catch {
    /* a hint that cannot be saved is not worth failing a build for */
  }
}

/** The reports of a recipe's last build and of the different build before it, when recorded. */
export async function readReportHistory(
  cacheDir: string,
  recipe: Pick<Recipe, 'file' | 'variant'>,
): Promise<{ latest?: unknown; previous?: unknown }> {
  const r = await readRecord(recordPath(cacheDir, recipe));
  return {
    ...(r?.report === undefined ? {} : { latest: r.report }),
    ...(r?.previousReport === undefined ? {} : { previous: r.previousReport }),
  };
}

async function readRecord(
  file: string,
): Promise<{ steps?: BuildRecord; report?: unknown; previousReport?: unknown } | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as {
      steps?: BuildRecord;
      report?: unknown;
      previousReport?: unknown;
    };
  } catch {
    return undefined;
  }
}
