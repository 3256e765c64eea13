import { isCancelled } from '../errors.js';
import type { BuildEvent, EventListener } from '../execute/index.js';

/**
 * Line-by-line progress for logs (CI, pipes, NO TTY): one line per step event, and for long steps a
 * progress line at most every 10%, so a CI log stays readable.
 */
export function plainProgress(write: (line: string) => void, opts: { verbose?: boolean } = {}): EventListener {
  const lastDecile = new Map<string, number>();
  const startedAt = new Map<string, number>();
  return (e: BuildEvent) => {
    // Variants built at once (with workers) interleave: their steps are named variant/step.
    const id = 'step' in e ? (e.variant ? `${e.variant}/${e.step.id}` : e.step.id) : '';
    switch (e.type) {
      case 'plan': {
        const n = e.plan.steps.length;
        write(
          `${e.variant ? `${e.variant}: ` : ''}plan: ${n} steps, ${e.cached.size} in cache${e.remote?.size ? ` (${e.remote.size} in the remote cache)` : ''}, backend ${e.plan.backend}`,
        );
        break;
      }
      case 'engine':
        write(
          `engine: TF.js ${e.backend} backend${e.backend === 'wasm' ? ` (${e.threads} thread${e.threads === 1 ? '' : 's'})` : ''} ready in ${e.seconds.toFixed(1)} s`,
        );
        break;
      case 'step-cached':
        write(
          `[cached] ${id}: ${e.step.title} (key ${e.step.key.slice(0, 12)}; same inputs as a verified earlier run${e.from === 'remote' ? ', downloaded from the remote cache' : ''})`,
        );
        break;
      case 'step-start':
        startedAt.set(id, performance.now());
        write(`[run]    ${id}: ${e.step.title} (${e.reason}; key ${e.step.key.slice(0, 12)})`);
        if (opts.verbose) write(`         key inputs: ${JSON.stringify(e.step.keyInputs)}`);
        break;
      case 'step-progress': {
        // Why a step sits still: another build is computing it (reported once per holder by the executor).
        if (e.waiting) {
          write(`[wait]   ${id}: ${e.message}`);
          break;
        }
        // Steps shorter than a couple of seconds need no progress lines at all.
        if (e.fraction === undefined || performance.now() - (startedAt.get(id) ?? 0) < 2000) break;
        const decile = Math.floor(e.fraction * 10);
        if (decile <= (lastDecile.get(id) ?? 0) || decile >= 10) break;
        lastDecile.set(id, decile);
        write(`         ${id}: ${decile * 10}% ${e.message}`);
        break;
      }
      case 'step-done':
        write(`[done]   ${id} in ${e.seconds.toFixed(1)} s`);
        break;
      case 'step-failed': {
        write(`${isCancelled(e.error) ? '[cancelled]' : '[failed]'} ${id}`);
        break;
      }
      case 'warning':
        write(`warning: ${e.message}`);
        break;
    }
  };
}
