/**
 * The CLI's own entry (src/cli/main.ts `main(argv)`, which returns the exit code and never calls
 * process.exit) run inside the test process with stdout and stderr captured: a thousand fuzzed recipes
 * cost milliseconds each instead of a Node start-up each.
 */
import { main } from '../../src/cli/main.js';

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runInProcess(argv: string[]): Promise<InProcessRun> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const capture = (append: (s: string) => void) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture((s) => (stdout += s));
  process.stderr.write = capture((s) => (stderr += s));
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } catch (e) {
    // main() turns every error into an exit code; one escaping it is a crash like exit 3.
    return {
      code: -1,
      stdout,
      stderr: `${stderr}\nescaped main(): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
