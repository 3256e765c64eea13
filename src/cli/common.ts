import type { KeyObject } from 'node:crypto';
import type { RemoteCache } from '../cache/remote.js';
import { McbError } from '../errors.js';
import type { BuildResult, PlanOptions } from '../pipeline/index.js';
import type { BackendChoice } from '../recipe/index.js';
import type { CommandContext } from './command.js';

const BACKENDS: BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** --cache-dir, --backend and --threads, checked. */
export function planOptions(ctx: CommandContext): PlanOptions {
  const backend = ctx.values.backend as string | undefined;
  if (backend !== undefined && !BACKENDS.includes(backend as BackendChoice)) {
    throw new McbError(
      'MCB_USAGE',
      `--backend must be one of ${BACKENDS.join(', ')} (got ${JSON.stringify(backend)}).`,
    );
  }
  const threads = threadsOption(ctx.values.threads as string | undefined);
  const cacheDir = ctx.values['cache-dir'] as string | undefined;
  const set = ctx.values.set as string[] | undefined;
  const variant = ctx.values.variant as string | undefined;
  return {
    ...(cacheDir === undefined ? {} : { cacheDir }),
    ...(backend === undefined ? {} : { backend: backend as BackendChoice }),
    ...(threads === undefined ? {} : { threads }),
    ...(set?.length ? { set } : {}),
    ...(variant === undefined ? {} : { variant }),
    ...(ctx.values['allow-outside'] === true ? { allowOutside: true } : {}),
  };
}

/** --jobs, checked: steps side by side at most. */
export function jobsOption(ctx: CommandContext): { jobs?: number } {
  const v = ctx.values.jobs as string | undefined;
  if (v === undefined) return {};
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1)
    throw new McbError(
      'MCB_USAGE',
      `--jobs must be a whole number ≥ 1 (got ${JSON.stringify(v)}): the most steps computed side by side; 1 computes one at a time.`,
    );
  return { jobs: n };
}

/** The same range as the recipe's `runtime.threads` (the wasm pool holds at most 8). */
export function threadsOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 8)
    throw new McbError('MCB_USAGE', `--threads must be a whole number from 1 to 8 (got ${JSON.stringify(v)}).`);
  return n;
}

export function stringOption<T extends string>(
  ctx: CommandContext,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = ctx.values[name] as string | undefined;
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T))
    throw new McbError('MCB_USAGE', `--${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)}).`);
  return v as T;
}

/**
 * The signing key of --sign-key (a file) or MCBUILD_SIGN_KEY (a file, or the PEM itself, as CI secrets are
 * often given): loaded before any work, so a bad key fails in a second rather than after the build.
 */
export async function signKeyOption(ctx: CommandContext): Promise<KeyObject | undefined> {
  // Provenance (and the report constants it names) loads only for a key: every command parses its options here.
  const loadPrivateKey = async (key: string, from: string) =>
    (await import('../provenance/index.js')).loadPrivateKey(key, from);
  const path = ctx.values['sign-key'] as string | undefined;
  if (path !== undefined) return loadPrivateKey(path, '--sign-key');
  const env = process.env.MCBUILD_SIGN_KEY;
  // Set but empty is how CI passes a secret that is not defined (or withheld, as for pull requests from forks):
  // the build goes on unsigned, but says so rather than leaving it to a later `verify --pub`.
  if (env !== undefined && env.trim() === '')
    process.stderr.write(
      'mcbuild: warning: MCBUILD_SIGN_KEY is set but empty, so the output will not be signed (is the CI secret defined?)\n',
    );
  return env?.trim() ? loadPrivateKey(env, 'MCBUILD_SIGN_KEY') : undefined;
}

export function buildSummary(result: BuildResult, seconds: number, remote?: RemoteCache): string {
  const { execution, report, plan } = result;
  return `${plan.steps.length} steps, ${execution.cached.length} cached, ${execution.ran.length} run in ${seconds.toFixed(1)} s${remoteSummary(remote)} — ${report.verdict.toUpperCase()}`;
}

/** "; remote cache: 5 hits, 2 uploads" after a build with a remote cache. */
export function remoteSummary(remote: RemoteCache | undefined): string {
  if (!remote) return '';
  const { hits, uploads, damaged } = remote.stats;
  return `; remote cache: ${hits} ${hits === 1 ? 'hit' : 'hits'}, ${uploads} ${uploads === 1 ? 'upload' : 'uploads'}${damaged ? `, ${damaged} damaged` : ''}${remote.available ? '' : ' (unreachable)'}`;
}
