/**
 * A child process of the step pool (./pool.ts): computes the steps it is sent, one at a time, with the code a
 * build runs in its own process (./steps/), reading the inputs from the local cache and committing the result
 * there. Its thread count comes in MCBUILD_THREADS; its engine loads on the first step that needs one and
 * stays for the next. It exits when the parent goes.
 */
import { StepCache, type CacheEntry } from '../cache/index.js';
import { openJob } from '../distributed/job.js';
import { cancelled } from '../errors.js';
import { runStep } from './steps/index.js';
import { toWire, type ChildMessage, type ParentMessage } from './step-wire.js';

let running: AbortController | undefined;

function say(message: ChildMessage): void {
  if (process.connected) process.send!(message);
}

async function compute(m: Extract<ParentMessage, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  running = controller;
  try {
    const step = openJob(m.job, undefined);
    const cache = new StepCache(m.cacheDir);
    const inputs: CacheEntry[] = [];
    for (const input of m.job.inputs) {
      const entry = await cache.read(input.key);
      // The parent asks for a step only after its inputs are committed and verified there.
      if (!entry) throw new Error(`input ${input.id} [${input.key.slice(0, 12)}] is not in the cache ${m.cacheDir}`);
      inputs.push(entry);
    }
    let lastProgress = 0;
    const entry = await runStep(step, inputs, {
      // loadEngine keeps the engine for the next step, and switches it for a job of another backend.
      engine: () => import('../engine/runtime.js').then(({ loadEngine }) => loadEngine(m.job.backend)),
      signal: controller.signal,
      progress: (message, fraction) => {
        // Training reports every batch; a few updates a second will do.
        const now = performance.now();
        if (now - lastProgress < 100 && fraction !== undefined && fraction < 1) return;
        lastProgress = now;
        say({ type: 'progress', message, ...(fraction === undefined ? {} : { fraction }) });
      },
      slices: cache,
    });
    if (controller.signal.aborted) throw cancelled();
    await cache.write(step.key, entry);
    say({ type: 'done' });
  } catch (error) {
    say({ type: 'failed', error: toWire(error) });
  } finally {
    running = undefined;
  }
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'run') void compute(m);
  else running?.abort();
});
process.on('disconnect', () => process.exit(0));
