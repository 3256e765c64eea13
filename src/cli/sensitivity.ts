import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { McbError } from '../errors.js';
import { loadRecipe } from '../recipe/index.js';
import { renderSensitivity, scanSensitivity } from '../search/sensitivity.js';
import type { Command } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions } from './common.js';

export const sensitivityCommand: Command = {
  name: 'sensitivity',
  summary: "per layer, the accuracy drop when only that layer goes through a pass at each candidate setting (cached)",
  usage: 'mcbuild sensitivity <recipe.yaml> [--pass NAME|INDEX] [--option O --candidates A,B,C] [--layers P,Q] [--out FILE] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: {
    ...PLAN_OPTIONS,
    pass: { type: 'string', value: 'P', description: 'the pass to scan: its name (first entry) or index in passes, from 0 (default: the searched pass, else the first that takes per-layer options)' },
    option: { type: 'string', value: 'O', description: 'the per-layer option to vary (default per pass: quantize bits, prune sparsity, cluster clusters, …)' },
    candidates: { type: 'string', value: 'A,B,C', description: 'its values, comma-separated (default per pass, e.g. 8,4,2 for bits)' },
    layers: { type: 'string', value: 'P,Q', description: 'only layers matching these names, globs or re: patterns' },
    out: { type: 'string', value: 'FILE', description: "where to write the JSON (default: <output>.sensitivity.json beside the recipe's output folder)" },
  },
  examples: ['mcbuild sensitivity recipes/mnist-mlp.yaml --pass quantize', 'mcbuild sensitivity recipes/mobilenet.yaml --pass quantize --option bits --candidates 8,4 --layers "conv_pw_*"'],
  async run(ctx) {
    const recipe = await loadRecipe(ctx.positionals[0]!, planOptions(ctx));
    const candidates = (ctx.values.candidates as string | undefined)?.split(',').map((c) => {
      const t = c.trim();
      if (t === '') throw new McbError('MCB_USAGE', `--candidates ${String(ctx.values.candidates)} has an empty value; write e.g. --candidates 8,4,2.`);
      return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
    });
    const only = (ctx.values.layers as string | undefined)?.split(',').map((l) => l.trim()).filter(Boolean);
    const started = performance.now();
    const result = await scanSensitivity(recipe, {
      ...planOptions(ctx),
      signal: ctx.signal,
      ...(ctx.values.pass === undefined ? {} : { pass: ctx.values.pass as string }),
      ...(ctx.values.option === undefined ? {} : { option: ctx.values.option as string }),
      ...(candidates ? { candidates } : {}),
      ...(only?.length ? { only } : {}),
      onTrial: (done, total, label) => ctx.out.info(`[${done}/${total}] ${label}`),
    });
    const file = resolve((ctx.values.out as string | undefined) ?? join(dirname(recipe.output), `${basename(recipe.output)}.sensitivity.json`));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, `${JSON.stringify({ generator: 'mcbuild', ...result }, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
    const seconds = (performance.now() - started) / 1000;
    if (ctx.out.json) ctx.out.jsonResult({ ...result, file, seconds });
    else ctx.out.result(`\n${renderSensitivity(result)}\n\nwritten to ${file}\n${result.layers.length * result.candidates.length + 1} trials, ${result.ran} steps run in ${seconds.toFixed(1)} s (the rest from cache)`);
    return 0;
  },
};
