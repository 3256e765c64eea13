/**
 * The `mcbuild` command: parse, dispatch, and turn errors into exit codes. An McbError is the user's to fix
 * and prints as one paragraph without a stack (exit 2); anything else is our bug (stack, exit 3).
 */
import { EXIT, isMcbError } from '../errors.js';
import { MCBUILD_VERSION } from '../version.js';
import { HELP, parseCli } from './args.js';
import { runBuild } from './build.js';
import { runPlan } from './plan.js';

export async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // First Ctrl-C: stop between batches, cache nothing half-done. Second: leave now.
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nmcbuild: cancelling (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const args = parseCli(argv);
    switch (args.command) {
      case 'version':
        process.stdout.write(`${MCBUILD_VERSION}\n`);
        return EXIT.pass;
      case 'help':
        process.stdout.write(HELP);
        return EXIT.pass;
      case 'plan':
        return await runPlan(args);
      case 'build':
        return await runBuild(args, controller.signal);
    }
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
  }
}
