import { describe, expect, it } from 'vitest';
import { cancelled, EXIT, isCancelled, McbError } from '../src/errors.js';

describe('cancellation: one error, one predicate', () => {
  it('is an McbError MCB_CANCELLED with exit code 130 and the words of the place it stopped', () => {
    const e = cancelled('the build was cancelled; nothing half-transferred was kept.');
    expect(e).toBeInstanceOf(McbError);
    expect(e).toMatchObject({ code: 'MCB_CANCELLED', exitCode: 130 });
    expect(EXIT.cancelled).toBe(130);
    expect(e.message).toBe('the build was cancelled; nothing half-transferred was kept.');
    expect(cancelled().message).toBe('the build was cancelled; nothing was cached for the step that was running.');
  });

  it('tells a cancellation from a failure', () => {
    expect(isCancelled(cancelled())).toBe(true);
    expect(isCancelled(new McbError('MCB_DATASET', 'x'))).toBe(false);
    expect(isCancelled(new Error('MCB_CANCELLED'))).toBe(false);
    expect(isCancelled(undefined)).toBe(false);
  });
});
