import { Listr, type DefaultRenderer, type ListrTaskWrapper, type SimpleRenderer } from 'listr2';
import type { BuildEvent, EventListener } from '../execute/index.js';
import type { Step } from '../plan/index.js';

type Wrapper = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

interface Pending {
  task?: Wrapper;
  outcome: Promise<'cached' | 'done'>;
  settle(outcome: 'cached' | 'done' | Error): void;
}

/**
 * Live progress in a terminal: one listr2 task per step, fed by the executor's events. listr2 owns the
 * drawing; the executor stays unaware of it.
 */
export function listrProgress(): { listener: EventListener; finish(): Promise<void> } {
  const pending = new Map<string, Pending>();
  let running: Promise<unknown> | undefined;
  const warnings: string[] = [];

  const track = (step: Step): Pending => {
    let settle!: Pending['settle'];
    const outcome = new Promise<'cached' | 'done'>((resolve, reject) => {
      settle = (o) => (o instanceof Error ? reject(o) : resolve(o));
    });
    outcome.catch(() => {});
    const p: Pending = { outcome, settle };
    pending.set(step.id, p);
    return p;
  };

  const listener: EventListener = (e: BuildEvent) => {
    switch (e.type) {
      case 'plan': {
        const tasks = e.plan.steps.map((step) => {
          const p = track(step);
          return {
            title: `${step.id}: ${step.title}`,
            task: async (_ctx: unknown, task: Wrapper) => {
              p.task = task;
              const o = await p.outcome;
              if (o === 'cached') task.skip(`${step.id}: ${step.title} [cached ${step.key.slice(0, 12)}]`);
            },
          };
        });
        running = new Listr(tasks, { concurrent: false, exitOnError: true, rendererOptions: { collapseSkips: false } })
          .run()
          .catch(() => {});
        break;
      }
      case 'step-cached':
        pending.get(e.step.id)?.settle('cached');
        break;
      case 'step-start': {
        const p = pending.get(e.step.id);
        if (p?.task) p.task.title = `${e.step.id}: ${e.step.title} (${e.reason})`;
        break;
      }
      case 'step-progress': {
        const p = pending.get(e.step.id);
        if (p?.task)
          p.task.output = e.fraction === undefined ? e.message : `${Math.round(e.fraction * 100)}% ${e.message}`;
        break;
      }
      case 'step-done': {
        const p = pending.get(e.step.id);
        if (p?.task) p.task.title = `${e.step.id}: ${e.step.title} — done in ${e.seconds.toFixed(1)} s`;
        p?.settle('done');
        break;
      }
      case 'step-failed':
        pending.get(e.step.id)?.settle(new Error(`${e.step.id} failed`));
        break;
      case 'warning':
        warnings.push(e.message);
        break;
      case 'engine':
        break;
    }
  };

  return {
    listener,
    async finish() {
      // A build that stopped early leaves steps that will never report: end them so listr2 stops drawing.
      for (const p of pending.values()) p.settle(new Error('not run'));
      await running;
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    },
  };
}
