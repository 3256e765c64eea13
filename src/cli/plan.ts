import { planBuild } from '../build.js';
import type { CliArgs } from './args.js';

export async function runPlan(args: CliArgs): Promise<number> {
  const { plan, cached, cache } = await planBuild(args.recipe!, {
    ...(args.cacheDir === undefined ? {} : { cacheDir: args.cacheDir }),
    ...(args.backend === undefined ? {} : { backend: args.backend }),
  });
  if (args.json) {
    const steps = plan.steps.map((s) => ({ id: s.id, title: s.title, inputs: s.inputs, key: s.key, cached: cached.has(s.id), keyInputs: s.keyInputs }));
    process.stdout.write(`${JSON.stringify({ recipe: plan.recipe.name, backend: plan.backend, cacheDir: cache.dir, steps }, null, 2)}\n`);
    return 0;
  }
  const lines = [`recipe ${plan.recipe.name} · backend ${plan.backend} · cache ${cache.dir}`];
  const idWidth = Math.max(...plan.steps.map((s) => s.id.length));
  for (const s of plan.steps) {
    const from = s.inputs.length ? ` ← ${s.inputs.join(', ')}` : '';
    lines.push(`  ${cached.has(s.id) ? 'cached ' : 'missing'}  ${s.key.slice(0, 12)}  ${s.id.padEnd(idWidth)}  ${s.title}${from}`);
  }
  lines.push(`  always   ${'-'.repeat(12)}  ${'gate'.padEnd(idWidth)}  thresholds (in no key: editing one never reruns a step) ← ${plan.baselineEval}, ${plan.resultEval}`);
  lines.push(`  always   ${'-'.repeat(12)}  ${'export'.padEnd(idWidth)}  write ${plan.recipe.output} ← ${plan.finalModel}`);
  const missing = plan.steps.filter((s) => !cached.has(s.id)).length;
  lines.push(`${plan.steps.length} steps: ${plan.steps.length - missing} cached, ${missing} to run`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
