/**
 * The step log: with MCBUILD_STEP_LOG=/path/to/file, every build appends one JSON line when it starts
 * computing a step and one when that step is stored, e.g.
 *   {"event":"start","key":"5181…","step":"baseline","pid":4242,"time":1733390000000}
 * Builds on one machine may share the file: each line is one write() to a file opened with O_APPEND, which
 * Linux and macOS keep whole and in order. It exists to count computations across processes (the tests
 * prove with it that concurrent builds never compute one key twice) and for looking at a busy CI cache.
 * A cache hit writes nothing.
 */
import { appendFileSync } from 'node:fs';

export type StepLogEvent = 'start' | 'done';

/** Appends a line when MCBUILD_STEP_LOG is set; returns a warning the first time the file cannot be written. */
export function logStep(event: StepLogEvent, step: { key: string; id: string }): string | undefined {
  const file = process.env.MCBUILD_STEP_LOG;
  if (!file) return undefined;
  try {
    appendFileSync(
      file,
      `${JSON.stringify({ event, key: step.key, step: step.id, pid: process.pid, time: Date.now() })}\n`,
    );
    return undefined;
  } catch (e) {
    if (warned) return undefined;
    warned = true;
    return `cannot append to MCBUILD_STEP_LOG=${file} (${(e as { code?: string }).code ?? String(e)}); steps are not logged`;
  }
}

let warned = false;
