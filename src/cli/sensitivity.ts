import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { checkInsideProject, findProjectRoot } from '../recipe/index.js';
import { loadRecipe } from '../language/index.js';
import { renderSensitivity, scanSensitivity } from '../search/sensitivity.js';
import type { Command } from './command.js';
import { JOBS_OPTION, PLAN_OPTIONS } from './command.js';
import { jobsOption, planOptions } from './common.js';
import { writeTextAtomic } from '../util/write.js';

export const sensitivityCommand: Command = {
  name: 'sensitivity',
  summary: 'per layer, the accuracy drop when only that layer goes through a pass at each candidate setting (cached)',
  usage:
    'mcbuild sensitivity <recipe.yaml> [--pass NAME|INDEX] [--option O --candidates A,B,C] [--layers P,Q] [--out FILE] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: {
    ...PLAN_OPTIONS,
    ...JOBS_OPTION,
    pass: {
      type: 'string',
      value: 'P',
      description:
        'the pass to scan: its name (first entry) or index in passes, from 0 (default: the searched pass, else the first that takes per-layer options)',
    },
    option: {
      type: 'string',
      value: 'O',
      description:
        'the per-layer option to vary (default per pass: quantize bits, prune sparsity, cluster clusters, …)',
    },
    candidates: {
      type: 'string',
      value: 'A,B,C',
      description: 'its values, comma-separated (default per pass, e.g. 8,4,2 for bits)',
    },
    layers: { type: 'string', value: 'P,Q', description: 'only layers matching these names, globs or re: patterns' },
    out: {
      type: 'string',
      value: 'FILE',
      description:
        "where to write the JSON: a file, or an existing folder to write <output>.sensitivity.json into (default: <output>.sensitivity.json beside the recipe's output folder)",
    },
  },
  examples: [
    'mcbuild sensitivity recipes/mnist-mlp.yaml --pass quantize',
    'mcbuild sensitivity recipes/mobilenet.yaml --pass quantize --option bits --candidates 8,4 --layers "conv_pw_*"',
  ],
  async run(ctx) {
    const recipe = await loadRecipe(ctx.positionals[0]!, planOptions(ctx));
    const candidates = (ctx.values.candidates as string | undefined)?.split(',').map((c) => {
      const t = c.trim();
      if (t === '')
        throw new McbError(
          'MCB_USAGE',
          `--candidates ${String(ctx.values.candidates)} has an empty value; write e.g. --candidates 8,4,2.`,
        );
      // Plain decimals only: `1e1` or `0x8` stay strings, for the schema to refuse as written.
      return /^-?(\d+(\.\d*)?|\.\d+)$/.test(t) ? Number(t) : t;
    });
    // Where the JSON goes, settled before the scan: a folder given as --out gets the default name inside it.
    const name = `${basename(recipe.output)}.sensitivity.json`;
    const out = ctx.values.out as string | undefined;
    const file =
      out === undefined
        ? resolve(join(dirname(recipe.output), name))
        : (await isDirectory(out)) || /[\\/]$/.test(out)
          ? resolve(out, name)
          : resolve(out);
    checkInsideProject(
      file,
      findProjectRoot(recipe.file),
      out === undefined ? 'the sensitivity scan' : `--out ${out}`,
      ctx.values['allow-outside'] === true,
    );
    if (await isDirectory(file))
      throw new McbError(
        'MCB_OUTPUT',
        `cannot write the sensitivity scan to ${file}: it is a folder; give --out a file path, or a folder to write ${name} into.`,
      );
    // Its folder now, so an unwritable place is reported before the scan's trials run, not after.
    await mkdir(dirname(file), { recursive: true }).catch((e: unknown) => {
      throw outputError(file, e);
    });
    const only = (ctx.values.layers as string | undefined)
      ?.split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    const started = performance.now();
    const result = await scanSensitivity(recipe, {
      ...planOptions(ctx),
      ...jobsOption(ctx),
      signal: ctx.signal,
      ...(ctx.values.pass === undefined ? {} : { pass: ctx.values.pass as string }),
      ...(ctx.values.option === undefined ? {} : { option: ctx.values.option as string }),
      ...(candidates ? { candidates } : {}),
      ...(only?.length ? { only } : {}),
      onTrial: (done, total, label) => ctx.out.info(`[${done}/${total}] ${label}`),
    });
    await writeTextAtomic(
      file,
      `${JSON.stringify({ generator: 'mcbuild', ...result }, null, 2)}\n`,
      'sensitivity scan',
    );
    const seconds = (performance.now() - started) / 1000;
    if (ctx.out.json) ctx.out.jsonResult({ ...result, file, seconds });
    else
      ctx.out.result(
        `\n${renderSensitivity(result)}\n\nwritten to ${file}\n${result.layers.length * result.candidates.length + 1} trials, ${result.ran} steps run in ${seconds.toFixed(1)} s (the rest from cache)`,
      );
    return 0;
  },
};

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function outputError(file: string, e: unknown): McbError {
  const code = errnoCode(e);
  const why =
    code === 'EISDIR'
      ? 'it is a folder'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'permission denied'
        : code === 'EEXIST' || code === 'ENOTDIR'
          ? `${dirname(file)} (or a folder above it) is a file, not a folder`
          : e instanceof Error
            ? e.message
            : String(e);
  return new McbError(
    'MCB_OUTPUT',
    `cannot write the sensitivity scan to ${file}: ${why}; give --out a writable file path, or an existing folder to write it into.`,
    { cause: e },
  );
}
