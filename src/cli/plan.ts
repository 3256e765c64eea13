import { planRecipe } from '../pipeline/index.js';
import { McbError } from '../errors.js';
import { loadRecipeSet } from '../language/index.js';
import type { Plan } from '../plan/index.js';
import type { Command } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions, stringOption } from './common.js';

const FORMATS = ['text', 'json', 'dot', 'mermaid'] as const;

export const planCommand: Command = {
  name: 'plan',
  summary: 'show the steps of a build, their keys and cache status, without running anything',
  usage: 'mcbuild plan <recipe.yaml> [--format text|json|dot|mermaid] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: {
    ...PLAN_OPTIONS,
    'dry-run': { type: 'boolean', description: 'accepted for symmetry with build tools: plan never runs a step' },
    format: { type: 'string', value: 'F', description: 'text (default), json, dot (Graphviz) or mermaid' },
  },
  examples: [
    'mcbuild plan recipes/mobilenet.yaml',
    'mcbuild plan recipes/mobilenet.yaml --json | jq ".steps[].key"',
    'mcbuild plan recipes/mobilenet.yaml --format dot | dot -Tsvg > plan.svg',
  ],
  async run(ctx) {
    const format = ctx.values.json ? 'json' : stringOption(ctx, 'format', FORMATS, 'text');
    const set = await loadRecipeSet(ctx.positionals[0]!, planOptions(ctx));
    if (set.matrix && format === 'text') {
      // A sweep: each variant's plan; keys the variants share are computed once when built.
      const seen = new Set<string>();
      const parts: string[] = [];
      for (const recipe of set.variants) {
        const { plan, cached, cache } = await planRecipe(recipe, planOptions(ctx));
        const shared = plan.steps.filter((s) => seen.has(s.key)).length;
        plan.steps.forEach((s) => seen.add(s.key));
        parts.push(
          `variant ${recipe.variant!.name}${shared ? ` (${shared} steps shared with variants above)` : ''}\n${toText(plan, cached, cache.dir, ctx.out.style)}`,
        );
      }
      ctx.out.result(`${parts.join('\n\n')}\n\n${set.variants.length} variants, ${seen.size} distinct steps`);
      return 0;
    }
    if (set.matrix && format === 'json') {
      const variants = [];
      for (const recipe of set.variants) {
        const { plan, cached, cache } = await planRecipe(recipe, planOptions(ctx));
        variants.push({
          variant: recipe.variant!.name,
          values: recipe.variant!.values,
          cacheDir: cache.dir,
          output: plan.recipe.output,
          steps: plan.steps.map((s) => ({
            id: s.id,
            title: s.title,
            inputs: s.inputs,
            key: s.key,
            cached: cached.has(s.id),
            keyInputs: s.keyInputs,
          })),
        });
      }
      ctx.out.jsonResult({
        recipe: set.variants[0]!.name,
        matrix: set.matrix,
        gate: set.gate,
        distinctSteps: new Set(variants.flatMap((v) => v.steps.map((s) => s.key))).size,
        variants,
      });
      return 0;
    }
    if (set.matrix)
      throw new McbError(
        'MCB_USAGE',
        `${ctx.positionals[0]} has a matrix of ${set.variants.length} variants; --format ${format} draws one: add --variant with one of ${set.variants.map((v) => JSON.stringify(v.variant!.name)).join(', ')}.`,
      );
    const { plan, cached, cache } = await planRecipe(set.variants[0]!, planOptions(ctx));
    if (format === 'json') {
      const steps = plan.steps.map((s) => ({
        id: s.id,
        title: s.title,
        inputs: s.inputs,
        key: s.key,
        cached: cached.has(s.id),
        keyInputs: s.keyInputs,
      }));
      ctx.out.jsonResult({
        recipe: plan.recipe.name,
        backend: plan.backend,
        cacheDir: cache.dir,
        output: plan.recipe.output,
        steps,
      });
    } else if (format === 'dot') {
      ctx.out.result(toDot(plan, cached));
    } else if (format === 'mermaid') {
      ctx.out.result(toMermaid(plan, cached));
    } else {
      ctx.out.result(toText(plan, cached, cache.dir, ctx.out.style));
    }
    return 0;
  },
};

function toText(
  plan: Plan,
  cached: Set<string>,
  cacheDir: string,
  style: (s: 'green' | 'yellow' | 'dim', t: string) => string,
): string {
  const lines = [`recipe ${plan.recipe.name} · backend ${plan.backend} · cache ${cacheDir}`];
  const idWidth = Math.max(...plan.steps.map((s) => s.id.length), 'export'.length);
  for (const s of plan.steps) {
    const from = s.inputs.length ? style('dim', ` ← ${s.inputs.join(', ')}`) : '';
    const status = cached.has(s.id) ? style('green', 'cached ') : style('yellow', 'missing');
    lines.push(`  ${status}  ${s.key.slice(0, 12)}  ${s.id.padEnd(idWidth)}  ${s.title}${from}`);
  }
  lines.push(
    `  always   ${'-'.repeat(12)}  ${'gate'.padEnd(idWidth)}  thresholds (in no key: editing one never reruns a step)${style('dim', ` ← ${[plan.baselineEval, plan.resultEval, ...(plan.latencyCompare ? [plan.latencyCompare] : [])].join(', ')}`)}`,
  );
  lines.push(
    `  always   ${'-'.repeat(12)}  ${'export'.padEnd(idWidth)}  write ${plan.recipe.output}${style('dim', ` ← ${plan.finalModel}`)}`,
  );
  const missing = plan.steps.filter((s) => !cached.has(s.id)).length;
  lines.push(`${plan.steps.length} steps: ${plan.steps.length - missing} cached, ${missing} to run`);
  return lines.join('\n');
}

/** The DAG as edges, gate and export included, shared by the dot and mermaid renderers. */
function edges(plan: Plan): [string, string][] {
  const e: [string, string][] = [];
  for (const s of plan.steps) for (const i of s.inputs) e.push([i, s.id]);
  e.push([plan.baselineEval, 'gate'], [plan.resultEval, 'gate'], [plan.finalModel, 'export'], ['gate', 'export']);
  if (plan.latencyCompare) e.push([plan.latencyCompare, 'gate']);
  return e;
}

function toDot(plan: Plan, cached: Set<string>): string {
  const q = (s: string) => JSON.stringify(s);
  const nodes = plan.steps.map(
    (s) =>
      `  ${q(s.id)} [label=${q(`${s.title}\n${s.key.slice(0, 12)}`)}, style=${cached.has(s.id) ? 'filled' : 'solid'}];`,
  );
  return [
    `digraph ${q(plan.recipe.name)} {`,
    '  rankdir=LR; node [shape=box, fillcolor="#d9f2d9"];',
    ...nodes,
    '  "gate" [shape=diamond]; "export" [shape=folder];',
    ...edges(plan).map(([a, b]) => `  ${q(a)} -> ${q(b)};`),
    '}',
  ].join('\n');
}

function toMermaid(plan: Plan, cached: Set<string>): string {
  const id = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  const label = (s: string) => s.replace(/"/g, "'");
  return [
    'flowchart LR',
    ...plan.steps.map(
      (s) => `  ${id(s.id)}["${label(s.title)}<br/>${s.key.slice(0, 12)}${cached.has(s.id) ? ' (cached)' : ''}"]`,
    ),
    '  gate{"gate"}',
    '  export[/"export"/]',
    ...edges(plan).map(([a, b]) => `  ${id(a)} --> ${id(b)}`),
  ].join('\n');
}
