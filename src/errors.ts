/**
 * Errors a user can cause (a bad recipe, a missing file, an unwritable directory) are McbErrors: they
 * carry a stable code, a one-paragraph message naming the file, the place and the fix, and an exit
 * code. The CLI prints them without a stack. Anything else that escapes is a bug (exit 3, with stack).
 */
export type ErrorCode =
  | 'MCB_USAGE'
  | 'MCB_RECIPE_NOT_FOUND'
  | 'MCB_RECIPE_YAML'
  | 'MCB_RECIPE_INVALID'
  | 'MCB_MODEL_NOT_FOUND'
  | 'MCB_MODEL_INVALID'
  | 'MCB_DATASET'
  | 'MCB_OUTPUT'
  | 'MCB_BACKEND'
  | 'MCB_TRAINING_DIVERGED'
  | 'MCB_CANCELLED'
  | 'MCB_REMOTE';

export const EXIT = { pass: 0, thresholdMissed: 1, badInput: 2, internal: 3 } as const;

export class McbError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'McbError';
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT.badInput;
  }
}

export function isMcbError(e: unknown): e is McbError {
  return e instanceof McbError;
}

/** Node's fs errors carry a code; this narrows them without `any`. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}
