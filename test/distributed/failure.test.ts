/**
 * A worker's error reaches the build as a code and a message: a pass step that changed nothing must arrive as
 * an EmptyPassError again (a sweep reports that variant and goes on), other recipe errors as plain McbErrors.
 */
import { describe, expect, it } from 'vitest';
import { failure } from '../../src/distributed/coordinator.js';
import { EmptyPassError, McbError } from '../../src/errors.js';
import type { Step } from '../../src/plan/index.js';

const job = (kind: string) => ({
  step: { id: 'pass-1-quantize', title: 'quantize', spec: { kind } } as unknown as Step,
});

describe("a worker's failure", () => {
  it('of a pass that changed nothing is an EmptyPassError naming its step', () => {
    const message = `the quantize pass at r.yaml:7:15 ${EmptyPassError.PHRASE} (0 of 4 tensors): …`;
    const e = failure(job('pass'), new Error(`MCB_RECIPE_INVALID: ${message}`));
    expect(e).toBeInstanceOf(EmptyPassError);
    expect((e as EmptyPassError).step).toBe('pass-1-quantize');
    expect((e as EmptyPassError).message).toBe(message);
    expect((e as EmptyPassError).exitCode).toBe(2);
  });

  it('of any other recipe problem stays a plain McbError', () => {
    const e = failure(job('pass'), new Error('MCB_RECIPE_INVALID: layer pattern "x" matches no layer'));
    expect(e).toBeInstanceOf(McbError);
    expect(e).not.toBeInstanceOf(EmptyPassError);
  });
});
