import { McbError } from '../errors.js';
import type { PlanOptions } from '../build.js';
import type { BackendChoice } from '../recipe/index.js';
import type { CommandContext } from './command.js';

const BACKENDS: BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** --cache-dir and --backend, checked. */
export function planOptions(ctx: CommandContext): PlanOptions {
  const backend = ctx.values.backend as string | undefined;
  if (backend !== undefined && !BACKENDS.includes(backend as BackendChoice)) {
    throw new McbError(
      'MCB_USAGE',
      `--backend must be one of ${BACKENDS.join(', ')} (got ${JSON.stringify(backend)}).`,
    );
  }
  const cacheDir = ctx.values['cache-dir'] as string | undefined;
  const set = ctx.values.set as string[] | undefined;
  const variant = ctx.values.variant as string | undefined;
  return {
    ...(cacheDir === undefined ? {} : { cacheDir }),
    ...(backend === undefined ? {} : { backend: backend as BackendChoice }),
    ...(set?.length ? { set } : {}),
    ...(variant === undefined ? {} : { variant }),
    ...(ctx.values['allow-outside'] === true ? { allowOutside: true } : {}),
  };
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
