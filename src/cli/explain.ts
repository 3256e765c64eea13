import { planBuild } from '../pipeline/index.js';
import { McbError } from '../errors.js';
import { readBuildRecord } from '../execute/history.js';
import { describeKeyChange } from '../plan/diff.js';
import { formatDataPath, formatPosition, suggest, type DataPath } from '../recipe/index.js';
import { searchedRecipePath } from '../search/search.js';
import { closest } from '../plan/layers.js';
import type { Plan, Step } from '../plan/index.js';
import type { Command, CommandContext } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions } from './common.js';
import { asText } from '../util/text.js';

export const explainCommand: Command = {
  name: 'explain',
  summary: "show what each step's key is made of, its cache status, and what changed since the last build",
  usage: 'mcbuild explain <recipe.yaml> [--step ID] [--layer NAME] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: {
    ...PLAN_OPTIONS,
    step: { type: 'string', value: 'ID', description: 'only this step (e.g. pass-1-quantize)' },
    layer: { type: 'string', value: 'NAME', description: "only this layer's resolved options, for every pass" },
  },
  examples: [
    'mcbuild explain recipes/mobilenet.yaml',
    'mcbuild explain recipes/mobilenet-slim.yaml --layer conv_pw_3',
    'mcbuild explain recipes/mobilenet.yaml --step eval-result --json',
  ],
  async run(ctx) {
    const { plan, cached, cache } = await planBuild(ctx.positionals[0]!, { ...planOptions(ctx), layers: true });
    const layer = ctx.values.layer as string | undefined;
    if (layer !== undefined) return explainLayer(ctx, plan, layer);
    const previous = await readBuildRecord(cache.dir, plan.recipe);
    const wanted = ctx.values.step as string | undefined;
    const steps = wanted === undefined ? plan.steps : plan.steps.filter((s) => s.id === wanted);
    if (steps.length === 0) {
      const ids = plan.steps.map((s) => s.id);
      throw new McbError(
        'MCB_USAGE',
        `--step ${wanted} is not a step of ${plan.recipe.name}${suggest(wanted!, ids)}; its steps are: ${ids.join(', ')}.`,
      );
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
      return {
        id: s.id,
        title: s.title,
        key: s.key,
        cached: cached.has(s.id),
        inputs: s.inputs,
        keyInputs: s.keyInputs,
        sinceLastBuild,
        ...(s.layerPlan ? { layers: perLayer(plan, s) } : {}),
      };
    });
    if (ctx.out.json) {
      ctx.out.jsonResult({ recipe: plan.recipe.name, backend: plan.backend, cacheDir: cache.dir, steps: explained });
      return 0;
    }
    const lines = [`recipe ${plan.recipe.name} · backend ${plan.backend} · cache ${cache.dir}`, ''];
    for (const e of explained) {
      lines.push(`${ctx.out.style('bold', e.id)}: ${e.title}`);
      lines.push(
        `  key     ${e.key} (${e.cached ? 'cached: an entry with exactly these inputs exists and is verified when read' : 'not in cache: it will run'})`,
      );
      lines.push(`  reads   ${e.inputs.length ? e.inputs.join(', ') : 'no other step'}`);
      lines.push('  hashes');
      for (const [k, v] of Object.entries(e.keyInputs)) {
        const shown =
          k === 'inputs'
            ? (v as string[]).map((key, i) => `${e.inputs[i]}@${key.slice(0, 12)}`).join(', ') || '[]'
            : JSON.stringify(v);
        lines.push(`    ${k.padEnd(14)} ${shown}`);
      }
      if (e.layers)
        lines.push(...renderLayers(e.layers, (path) => formatPosition(plan.recipe.source.positionOf(path))));
      lines.push(
        `  since the last build: ${e.sinceLastBuild === null ? 'no earlier build of this recipe with this cache' : e.sinceLastBuild.length === 0 ? 'unchanged' : e.sinceLastBuild.join('; ')}`,
        '',
      );
    }
    const searched = plan.recipe.passes.find((p) => p.search);
    if (searched) {
      lines.push(
        `passes[${searched.index}].${searched.name}.${searched.search!.option} is auto: this is the search's starting plan (every layer at ${String(searched.search!.candidates[0])}); the plan it chooses is written to ${searchedRecipePath(plan.recipe)} when it finds one.`,
        '',
      );
    }
    lines.push('Not in any key: thresholds, output paths, reporter options. Editing them never reruns a step.');
    ctx.out.result(lines.join('\n'));
    return 0;
  },
};

interface LayerRow {
  layer: string;
  className?: string;
  skip: boolean;
  /** Options as written, merged; the pass fills in its defaults for the rest. */
  options: Record<string, unknown>;
  /** Where each option (and `skip`) was written. */
  setBy: Record<string, string>;
  overridden: boolean;
}

/** Every layer of a pass step's (predicted) input, with the options it gets and who set them. */
function perLayer(plan: Plan, step: Step): { known: boolean; layers: LayerRow[] } {
  const lp = step.layerPlan!;
  const spec = step.spec as Extract<Step['spec'], { kind: 'pass' }>;
  const entry = plan.recipe.passes[spec.index]!;
  const own = formatDataPath(['passes', spec.index, spec.pass]);
  const touched = new Map(lp.overridden.map((r) => [r.layer, r]));
  const rows = (
    lp.layers ?? lp.overridden.map((r) => ({ name: r.layer, ...(r.className ? { className: r.className } : {}) }))
  ).map((l): LayerRow => {
    const r = touched.get(l.name);
    if (!r)
      return {
        layer: l.name,
        ...(l.className ? { className: l.className } : {}),
        skip: false,
        options: entry.rawOptions,
        setBy: Object.fromEntries(Object.keys(entry.rawOptions).map((k) => [k, own])),
        overridden: false,
      };
    return {
      layer: l.name,
      ...(l.className ? { className: l.className } : {}),
      skip: r.skip,
      options: r.raw,
      setBy: Object.fromEntries(Object.entries(r.setBy).map(([k, p]) => [k, formatDataPath(p)])),
      overridden: true,
    };
  });
  return { known: lp.layers !== undefined, layers: rows };
}

function describeRow(r: LayerRow): string {
  if (r.skip) return `skip (${r.setBy.skip})`;
  const parts = Object.entries(r.options).map(([k, v]) => `${k}=${asText(v)} (${r.setBy[k]})`);
  return parts.length ? parts.join(', ') : "the pass's defaults";
}

function renderLayers(p: { known: boolean; layers: LayerRow[] }, at: (path: DataPath) => string): string[] {
  const n = p.layers.filter((r) => r.overridden).length;
  const out = [
    `  per layer  ${p.known ? `${p.layers.length} layers at its input` : 'layers unknown until the passes before it run'}; ${n} set by overrides`,
  ];
  const width = Math.max(0, ...p.layers.map((r) => r.layer.length));
  for (const r of p.layers) if (r.overridden) out.push(`    ${r.layer.padEnd(width)}  ${describeRow(r)}`);
  if (n < p.layers.length) out.push(`    ${n ? 'other layers' : 'every layer'}: the pass's own options`);
  // Block numbers count the merged list (bases' blocks first): say where each one was written.
  const blocks = [
    ...new Set(
      p.layers
        .flatMap((r) => Object.values(r.setBy))
        .filter((w) => w.startsWith('overrides['))
        .map((w) => Number(/^overrides\[(\d+)\]/.exec(w)![1])),
    ),
  ].sort((a, b) => a - b);
  if (blocks.length) out.push(`    (${blocks.map((b) => `overrides[${b}] is at ${at(['overrides', b])}`).join('; ')})`);
  return out;
}

function explainLayer(ctx: CommandContext, plan: Plan, layer: string): number {
  const passes = plan.steps.filter((s) => s.layerPlan);
  const all = [...new Set(passes.flatMap((s) => s.layerPlan!.layers?.map((l) => l.name) ?? []))];
  if (!all.includes(layer)) {
    throw new McbError(
      'MCB_USAGE',
      `--layer ${layer} is not a layer the passes of ${plan.recipe.name} receive; the closest are ${closest(layer, all)
        .map((n) => JSON.stringify(n))
        .join(', ')}.`,
    );
  }
  const rows = passes.map((s) => {
    const row = perLayer(plan, s).layers.find((r) => r.layer === layer);
    return { step: s.id, ...(row ? { ...row } : { absent: true }) };
  });
  if (ctx.out.json) {
    ctx.out.jsonResult({ recipe: plan.recipe.name, layer, passes: rows });
    return 0;
  }
  const lines = [`layer ${layer} in ${plan.recipe.name}`, ''];
  for (const r of rows)
    lines.push(
      `  ${r.step.padEnd(24)} ${'absent' in r ? 'not in its input model (an earlier pass removed or renamed it)' : describeRow(r)}`,
    );
  lines.push(
    '',
    'Values say where they were written: passes[i].<pass> (the pass entry) or overrides[j].<pass> (a block; later blocks win).',
  );
  ctx.out.result(lines.join('\n'));
  return 0;
}
