/**
 * What the pool (./pool.ts) and its child processes (./step-child.ts) say to each other over IPC, and how an
 * error crosses: a user's error (McbError) arrives with its code, message and exit code, so a step failing
 * in a child ends the build exactly as it would here; anything else stays a bug, with the child's stack.
 */
import type { StepJob } from '../distributed/job.js';
import { EmptyPassError, isMcbError, McbError, type ErrorCode } from '../errors.js';

export type ParentMessage = { type: 'run'; job: StepJob; cacheDir: string } | { type: 'cancel' };

export type ChildMessage =
  { type: 'progress'; message: string; fraction?: number } | { type: 'done' } | { type: 'failed'; error: WireError };

export interface WireError {
  message: string;
  stack?: string;
  mcb?: { code: ErrorCode; exitCode: number; emptyStep?: string };
}

export function toWire(error: unknown): WireError {
  if (isMcbError(error)) {
    return {
      message: error.message,
      mcb: {
        code: error.code,
        exitCode: error.exitCode,
        ...(error instanceof EmptyPassError ? { emptyStep: error.step } : {}),
      },
    };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}

export function fromWire(wire: WireError): Error {
  if (wire.mcb) {
    if (wire.mcb.emptyStep !== undefined) return new EmptyPassError(wire.mcb.emptyStep, wire.message);
    return new McbError(wire.mcb.code, wire.message, { exitCode: wire.mcb.exitCode });
  }
  const error = new Error(wire.message);
  // The child's stack says where it failed; this process's would only say where the message arrived.
  if (wire.stack) error.stack = wire.stack;
  return error;
}
