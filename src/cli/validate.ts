import { planBuild } from '../build.js';
import { isMcbError } from '../errors.js';
import type { Command } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions } from './common.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check recipes against the schema and the models and data they name; runs nothing (exit 0 or 2)',
  usage: 'mcbuild validate <recipe.yaml>... [options]',
  positionals: { name: '<recipe.yaml>...', min: 1, max: Number.POSITIVE_INFINITY },
  options: { ...PLAN_OPTIONS },
  examples: ['mcbuild validate recipes/mobilenet.yaml', 'mcbuild validate recipes/*.yaml --json'],
  async run(ctx) {
    const results: { recipe: string; valid: boolean; steps?: number; code?: string; error?: string }[] = [];
    for (const file of ctx.positionals) {
      try {
        // Planning runs every check short of executing: schema, pass options, data, model files, architecture fit.
        const { plan } = await planBuild(file, planOptions(ctx));
        results.push({ recipe: file, valid: true, steps: plan.steps.length });
        ctx.out.info(`${file}: valid (${plan.steps.length} steps, backend ${plan.backend})`);
      } catch (e) {
        if (!isMcbError(e)) throw e;
        results.push({ recipe: file, valid: false, code: e.code, error: e.message });
        if (!ctx.out.json) process.stderr.write(`mcbuild: error ${e.code}: ${e.message}\n`);
      }
    }
    if (ctx.out.json) ctx.out.jsonResult({ valid: results.every((r) => r.valid), recipes: results });
    return results.every((r) => r.valid) ? 0 : 2;
  },
};
