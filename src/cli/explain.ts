import { planBuild } from '../build.js';
import { McbError } from '../errors.js';
import { readBuildRecord } from '../execute/history.js';
import { describeKeyChange } from '../plan/diff.js';
import { suggest } from '../recipe/index.js';
import type { Command } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions } from './common.js';

export const explainCommand: Command = {
  name: 'explain',
  summary: "show what each step's key is made of, its cache status, and what changed since the last build",
  usage: 'mcbuild explain <recipe.yaml> [--step ID] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: { ...PLAN_OPTIONS, step: { type: 'string', value: 'ID', description: 'only this step (e.g. pass-1-quantize)' } },
  examples: ['mcbuild explain recipes/mobilenet.yaml', 'mcbuild explain recipes/mobilenet.yaml --step eval-result --json'],
  async run(ctx) {
    const { plan, cached, cache } = await planBuild(ctx.positionals[0]!, planOptions(ctx));
    const previous = await readBuildRecord(cache.dir, plan.recipe);
    const wanted = ctx.values.step as string | undefined;
    const steps = wanted === undefined ? plan.steps : plan.steps.filter((s) => s.id === wanted);
    if (steps.length === 0) {
      const ids = plan.steps.map((s) => s.id);
      throw new McbError('MCB_USAGE', `--step ${wanted} is not a step of ${plan.recipe.name}${suggest(wanted!, ids)}; its steps are: ${ids.join(', ')}.`);
    }
    const explained = steps.map((s) => {
      const before = previous?.[s.id];
      const sinceLastBuild = !previous
        ? null
        : !before
          ? ['new step']
          : before.key === s.key
            ? []
            : describeKeyChange(before.keyInputs, s.keyInputs, s.inputs);
      return { id: s.id, title: s.title, key: s.key, cached: cached.has(s.id), inputs: s.inputs, keyInputs: s.keyInputs, sinceLastBuild };
    });
    if (ctx.out.json) {
      ctx.out.jsonResult({ recipe: plan.recipe.name, backend: plan.backend, cacheDir: cache.dir, steps: explained });
      return 0;
    }
    const lines = [`recipe ${plan.recipe.name} · backend ${plan.backend} · cache ${cache.dir}`, ''];
    for (const e of explained) {
      lines.push(`${ctx.out.style('bold', e.id)}: ${e.title}`);
      lines.push(`  key     ${e.key} (${e.cached ? 'cached: an entry with exactly these inputs exists and is verified when read' : 'not in cache: it will run'})`);
      lines.push(`  reads   ${e.inputs.length ? e.inputs.join(', ') : 'no other step'}`);
      lines.push('  hashes');
      for (const [k, v] of Object.entries(e.keyInputs)) {
        const shown = k === 'inputs' ? (v as string[]).map((key, i) => `${e.inputs[i]}@${key.slice(0, 12)}`).join(', ') || '[]' : JSON.stringify(v);
        lines.push(`    ${k.padEnd(14)} ${shown}`);
      }
      lines.push(
        `  since the last build: ${e.sinceLastBuild === null ? 'no earlier build of this recipe with this cache' : e.sinceLastBuild.length === 0 ? 'unchanged' : e.sinceLastBuild.join('; ')}`,
        '',
      );
    }
    lines.push('Not in any key: thresholds, output paths, reporter options. Editing them never reruns a step.');
    ctx.out.result(lines.join('\n'));
    return 0;
  },
};
