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

/** `cancelled`: 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C. */
export const EXIT = { pass: 0, thresholdMissed: 1, badInput: 2, internal: 3, cancelled: 130 } as const;

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

/**
 * A pass asked to change weights changed none: the recipe does not do what it says (exit 2, at the pass's
 * line). Its own class so that a matrix sweep or a search reports it as that variant's or trial's result and
 * goes on, where any other error stops the build.
 */
export class EmptyPassError extends McbError {
  /** The words every such message has: how a worker's error (a code and a message) is known for one again. */
  static readonly PHRASE = 'changed no weight of the model it received';

  /** The pass step's id, e.g. "pass-1-quantize". */
  readonly step: string;

  constructor(step: string, message: string) {
    super('MCB_RECIPE_INVALID', message);
    this.name = 'EmptyPassError';
    this.step = step;
  }
}

export function isMcbError(e: unknown): e is McbError {
  return e instanceof McbError;
}

/**
 * The build was cancelled (Ctrl-C, SIGTERM, a watch-mode rebuild, a search's budget): one error wherever it
 * stops, exit 130. The message says what was kept of the work in hand where it stopped.
 */
export function cancelled(
  message = 'the build was cancelled; nothing was cached for the step that was running.',
): McbError {
  return new McbError('MCB_CANCELLED', message, { exitCode: EXIT.cancelled });
}

/** Whether an error is a cancellation rather than a failure: callers unwind quietly, or keep what they found. */
export function isCancelled(e: unknown): e is McbError {
  return isMcbError(e) && e.code === 'MCB_CANCELLED';
}

/** Node's fs errors carry a code; this narrows them without `any`. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
}
