import type { Output } from './output.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. DIR. */
  value?: string;
  description: string;
}

export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  out: Output;
  /** Aborted by the first Ctrl-C. */
  signal: AbortSignal;
}

/** One CLI command: its help text, its options, and a run() that returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Positional arguments, for messages: `<recipe.yaml>`. */
  positionals: { name: string; min: number; max: number };
  options: Record<string, OptionSpec>;
  examples: string[];
  run(ctx: CommandContext): Promise<number>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', description: 'print only results and errors' },
  verbose: { type: 'boolean', description: 'print more detail (key inputs, timings)' },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
};

/** Options of the commands that compute steps: how many side by side. */
export const JOBS_OPTION: Record<string, OptionSpec> = {
  jobs: {
    type: 'string',
    value: 'N',
    description:
      "steps computed side by side at most, in processes of their own sharing --threads' cores (a sweep's variants, a scan's trials; default: as many as the cores); 1: one at a time in this process",
  },
};

/** Options of the commands that plan a recipe. */
export const PLAN_OPTIONS: Record<string, OptionSpec> = {
  'cache-dir': { type: 'string', value: 'DIR', description: 'step cache (default: cache/ at the project root)' },
  backend: {
    type: 'string',
    value: 'B',
    description: 'TF.js backend: auto | tensorflow | wasm | cpu (default: runtime.backend, else auto)',
  },
  threads: {
    type: 'string',
    value: 'N',
    description:
      'cores the build computes on, 1 to 8: a step alone gets them all, steps side by side share them (default: runtime.threads, else MCBUILD_THREADS, else every core)',
  },
  set: {
    type: 'string',
    multiple: true,
    value: 'PATH=VALUE',
    description: 'change a recipe value, e.g. --set passes[1].quantize.bits=4 (repeatable; list indices from 0)',
  },
  variant: {
    type: 'string',
    value: 'NAME',
    description: 'with a matrix: only this variant, e.g. --variant "bits=8,sparsity=0.5"',
  },
  'allow-outside': {
    type: 'boolean',
    description: 'let `output`, --out and --reporter write outside the project root (refused by default)',
  },
};

export function renderHelp(cmd: Command): string {
  const opts = { ...cmd.options, ...GLOBAL_OPTIONS };
  const rows = Object.entries(opts).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`,
    o.description,
  ]);
  const width = Math.max(...rows.map(([l]) => l!.length));
  return [
    `mcbuild ${cmd.name} — ${cmd.summary}`,
    '',
    'Usage:',
    `  ${cmd.usage}`,
    '',
    'Options:',
    ...rows.map(([l, d]) => `  ${l!.padEnd(width)}  ${d}`),
    '',
    'Examples:',
    ...cmd.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}
