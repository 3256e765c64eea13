import { parseArgs } from 'node:util';
import { McbError } from '../errors.js';
import type { BackendChoice } from '../recipe/index.js';

export const COMMANDS = ['build', 'plan'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  command: Command | 'help' | 'version';
  recipe?: string;
  cacheDir?: string;
  backend?: BackendChoice;
  out?: string;
  json: boolean;
  quiet: boolean;
}

const BACKENDS: BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export function parseCli(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'cache-dir': { type: 'string' },
        backend: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (e) {
    throw new McbError('MCB_USAGE', `${e instanceof Error ? e.message : String(e)}. Run \`mcbuild --help\` for the options.`);
  }
  const { values, positionals } = parsed;
  const base = { json: values.json === true, quiet: values.quiet === true };
  if (values.version) return { command: 'version', ...base };
  if (values.help) return { command: 'help', ...base };
  let [first, ...rest] = positionals;
  let command: Command = 'build';
  if (first !== undefined && (COMMANDS as readonly string[]).includes(first)) {
    command = first as Command;
    [first, ...rest] = rest;
  }
  if (first === undefined) {
    if (positionals.length === 0) return { command: 'help', ...base };
    throw new McbError('MCB_USAGE', `\`mcbuild ${command}\` needs a recipe file, e.g. \`mcbuild ${command} recipes/mnist-mlp.yaml\`.`);
  }
  if (rest.length) throw new McbError('MCB_USAGE', `unexpected argument ${JSON.stringify(rest[0])}: give one recipe file per run. Run \`mcbuild --help\`.`);
  if (values.backend !== undefined && !BACKENDS.includes(values.backend as BackendChoice)) {
    throw new McbError('MCB_USAGE', `--backend must be one of ${BACKENDS.join(', ')} (got ${JSON.stringify(values.backend)}).`);
  }
  return {
    command,
    recipe: first,
    ...base,
    ...(values['cache-dir'] === undefined ? {} : { cacheDir: values['cache-dir'] }),
    ...(values.backend === undefined ? {} : { backend: values.backend as BackendChoice }),
    ...(values.out === undefined ? {} : { out: values.out }),
  };
}

export const HELP = `mcbuild — build compressed TF.js models from YAML recipes, gated by accuracy and size thresholds

Usage:
  mcbuild [build] <recipe.yaml> [options]   plan, run what is not cached, gate, write the output
  mcbuild plan <recipe.yaml> [--json]       show the steps, their keys and cache status (runs nothing)

Options:
  --backend auto|tensorflow|wasm|cpu   TF.js backend (default: the recipe's runtime.backend, else auto)
  --cache-dir DIR                      step cache (default: cache/ at the project root)
  --out DIR                            output folder (default: the recipe's \`output\`)
  --json                               print machine-readable JSON on stdout
  -q, --quiet                          print only the verdict table
  -h, --help                           this text
  -v, --version                        mcbuild's version

Examples:
  mcbuild recipes/mnist-mlp.yaml
  mcbuild plan recipes/mnist-mlp.yaml --json
  mcbuild recipes/mnist-mlp.yaml --backend cpu --out /tmp/mlp

Exit codes: 0 every threshold passed · 1 a threshold was missed · 2 bad recipe, input or usage · 3 internal error (a bug)
`;
