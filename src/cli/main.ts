/**
 * The `mcbuild` command: pick the command, parse its options, and turn errors into exit codes. An McbError
 * is the user's to fix and prints as one paragraph without a stack (exit 2); anything else is our bug
 * (stack, exit 3).
 */
import { parseArgs } from 'node:util';
import { EXIT, isMcbError, McbError } from '../errors.js';
import { MCBUILD_VERSION } from '../version.js';
import { GLOBAL_OPTIONS, renderHelp, type Command } from './command.js';
import { makeOutput } from './output.js';

/**
 * Each command's module, loaded when that command runs: importing all of them up front cost a cached `mcbuild
 * plan` most of its second (the worker's bullmq and ioredis, build's listr2 and chokidar, …). In the order the
 * global help lists them.
 */
const COMMAND_MODULES: Record<string, () => Promise<Command>> = {
  build: async () => (await import('./build.js')).buildCommand,
  plan: async () => (await import('./plan.js')).planCommand,
  validate: async () => (await import('./validate.js')).validateCommand,
  explain: async () => (await import('./explain.js')).explainCommand,
  sensitivity: async () => (await import('./sensitivity.js')).sensitivityCommand,
  cache: async () => (await import('./cache.js')).cacheCommand,
  init: async () => (await import('./init.js')).initCommand,
  report: async () => (await import('./report.js')).reportCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  keygen: async () => (await import('./keygen.js')).keygenCommand,
  worker: async () => (await import('./worker.js')).workerCommand,
};

/** Every command, for the global help. */
export async function allCommands(): Promise<Command[]> {
  return Promise.all(Object.values(COMMAND_MODULES).map((load) => load()));
}

export async function globalHelp(): Promise<string> {
  const COMMANDS = await allCommands();
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mcbuild — build compressed TF.js models from YAML recipes, gated by accuracy and size thresholds',
    '',
    'Usage:',
    '  mcbuild [command] [options]        the command defaults to build: `mcbuild recipes/x.yaml`',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `mcbuild <command> --help` for a command's options and examples.",
    '',
    'Global options: --json, -q/--quiet, --verbose, -h/--help, -v/--version. Colour: NO_COLOR=1 / FORCE_COLOR=1.',
    '',
    'Exit codes: 0 every threshold passed · 1 a threshold was missed · 2 bad recipe, input or usage · 3 internal error (a bug) · 130 cancelled',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (signal: NodeJS.Signals) => {
    // First Ctrl-C (or SIGTERM, as CI runners and containers stop a job): stop between batches, cache
    // nothing half-done, release the step locks and leases. Second: leave now (the exit hook still drops the locks).
    if (++interrupts > 1) process.exit(EXIT.cancelled);
    process.stderr.write(
      signal === 'SIGTERM'
        ? '\nmcbuild: terminated, cancelling (send SIGTERM again to quit at once)\n'
        : '\nmcbuild: cancelling (Ctrl-C again to quit at once)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    if (argv.includes('--version') || argv.includes('-v')) {
      process.stdout.write(`${MCBUILD_VERSION}\n`);
      return EXIT.pass;
    }
    let args = argv;
    if (args[0] === 'help') args = [...args.slice(1), '--help'];
    const named = Object.hasOwn(COMMAND_MODULES, args[0] ?? '') ? args[0]! : undefined;
    if (named) args = args.slice(1);
    else if (
      args.length === 0 ||
      (args.every((a) => a.startsWith('-')) && (args.includes('--help') || args.includes('-h')))
    ) {
      process.stdout.write(await globalHelp());
      return EXIT.pass;
    }
    // Without a command name, the arguments are build's: `mcbuild recipes/x.yaml`.
    const command = await COMMAND_MODULES[named ?? 'build']!();
    // --watch=force is a value on a boolean flag; parseArgs cannot express that, so translate it first.
    const watchForce = args.includes('--watch=force');
    args = args.filter((a) => a !== '--watch=force');
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: { ...command.options, ...GLOBAL_OPTIONS },
      });
    } catch (e) {
      // Node's message for an unknown option also explains `--`, which is noise here: keep its first sentence.
      const first = (e instanceof Error ? e.message : String(e)).split('. ')[0]!.replace(/\.$/, '');
      throw new McbError(
        'MCB_USAGE',
        `${first} for \`mcbuild ${command.name}\`. Run \`mcbuild ${command.name} --help\` for its options.`,
      );
    }
    const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
    if (watchForce) values['watch-force'] = true;
    if (values.help) {
      process.stdout.write(renderHelp(command));
      return EXIT.pass;
    }
    const { positionals } = parsed;
    const p = command.positionals;
    if (positionals.length < p.min) {
      throw new McbError(
        'MCB_USAGE',
        `\`mcbuild ${command.name}\` needs ${p.name}; for example \`${command.examples[0]}\`. Run \`mcbuild ${command.name} --help\`.`,
      );
    }
    if (positionals.length > p.max && !(command.name === 'build' && (values.watch || values['watch-force']))) {
      throw new McbError(
        'MCB_USAGE',
        `unexpected argument ${JSON.stringify(positionals[p.max])}: \`mcbuild ${command.name}\` takes ${p.name}. Run \`mcbuild ${command.name} --help\`.`,
      );
    }
    const out = makeOutput({
      quiet: values.quiet === true,
      verbose: values.verbose === true,
      json: values.json === true,
    });
    return await command.run({ positionals, values, out, signal: controller.signal });
  } catch (e) {
    if (isMcbError(e)) {
      process.stderr.write(`mcbuild: error ${e.code}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `mcbuild: internal error — this is a bug in mcbuild ${MCBUILD_VERSION}. Please report it with your recipe and this output:\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    return EXIT.internal;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
