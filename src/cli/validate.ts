import { planRecipe } from '../pipeline/index.js';
import { loadRecipeSet } from '../language/index.js';
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
        // Planning runs every check short of executing: schema, pass options, overrides against the model's
        // layers, data, model files, architecture fit — for every variant of a matrix.
        const set = await loadRecipeSet(file, planOptions(ctx));
        let steps = 0;
        let backend = '';
        for (const recipe of set.variants) {
          const { plan } = await planRecipe(recipe, planOptions(ctx));
          steps += plan.steps.length;
          backend = plan.backend;
        }
        results.push({ recipe: file, valid: true, steps });
        const variants = set.matrix ? `, ${set.variants.length} variants` : '';
        ctx.out.info(`${file}: valid (${steps} steps${variants}, backend ${backend})`);
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
