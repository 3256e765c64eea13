/**
 * The step pool's scheduling (src/execute/pool.ts) with real child processes running a stand-in step script:
 * threads split by the steps waiting, never more than the cores in use, exclusive work alone, a child that
 * dies fails its step with its exit and last words, a user's error crosses with its code, cancellation
 * reaches the child. (The real step child, on real TF.js, is covered end to end in test/e2e/parallel-steps.)
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepJob } from '../../src/distributed/job.js';
import { isCancelled, isMcbError } from '../../src/errors.js';
import { StepPool } from '../../src/execute/pool.js';
import { fromWire, toWire } from '../../src/execute/step-wire.js';
import { McbError } from '../../src/errors.js';
import { tempDir, writeText } from '../helpers.js';

/** Answers a run after `ms` (the job's step id says what to do), reporting its thread count. */
const script = writeText(
  join(tempDir('mcbuild-pool-'), 'child.mjs'),
  `process.on('message', (m) => {
  if (m.type === 'cancel') return process.send({ type: 'failed', error: { message: 'cancelled', mcb: { code: 'MCB_CANCELLED', exitCode: 130 } } });
  const [what, ms] = m.job.step.id.split(':');
  process.send({ type: 'progress', message: 'threads ' + process.env.MCBUILD_THREADS });
  if (what === 'die') { process.stderr.write('out of memory, say\\n'); process.exit(3); }
  if (what === 'hang') return;
  setTimeout(() => {
    if (what === 'bad') process.send({ type: 'failed', error: { message: 'the recipe at x.yaml:3:4 is wrong; fix it', mcb: { code: 'MCB_RECIPE_INVALID', exitCode: 2 } } });
    else process.send({ type: 'done' });
  }, Number(ms));
});
process.on('disconnect', () => process.exit(0));
`,
);

const job = (id: string) => ({ step: { id } }) as unknown as StepJob;
let pool: StepPool | undefined;
afterEach(() => pool?.close());

function tracked(p: StepPool) {
  const log: string[] = [];
  let running = 0;
  let most = 0;
  const run = (id: string, signal = new AbortController().signal) => {
    let mine = 0;
    return p
      .run(job(id), '/nowhere', {
        signal,
        progress: (m) => log.push(`${id} ${m}`),
        started: (threads) => {
          mine = threads;
          running += threads;
          most = Math.max(most, running);
        },
      })
      .finally(() => (running -= mine));
  };
  return { log, run, most: () => most, running: () => running };
}

describe('the step pool', () => {
  it('gives a lone step every core, splits them between steps asked for together, and stays within them', async () => {
    pool = new StepPool(4, { script });
    const t = tracked(pool);
    await t.run('ok:10');
    expect(t.log).toEqual(['ok:10 threads 4']);
    await Promise.all(['a:150', 'b:150', 'c:150', 'd:150', 'e:50', 'f:50'].map((id) => t.run(id)));
    expect(t.most()).toBeLessThanOrEqual(4);
    // Six waiting for four cores: one thread each, four at once.
    expect(t.log.filter((l) => l.endsWith('threads 1'))).toHaveLength(6);
    expect(t.most()).toBe(4);
  });

  it('runs at most `jobs` steps at once, giving each its share of the cores', async () => {
    pool = new StepPool(4, { jobs: 2, script });
    const t = tracked(pool);
    await Promise.all(['a:100', 'b:100', 'c:100', 'd:100'].map((id) => t.run(id)));
    expect(t.log.filter((l) => l.endsWith('threads 2'))).toHaveLength(4);
    expect(t.most()).toBe(4);
  });

  it('runs exclusive work with nothing else computing, and holds later steps until it is done', async () => {
    pool = new StepPool(2, { script });
    const t = tracked(pool);
    const order: string[] = [];
    const steps = [t.run('a:200').then(() => order.push('a')), t.run('b:200').then(() => order.push('b'))];
    const alone = pool.exclusive(async () => {
      order.push(`alone while ${t.running()} threads ran`);
      await new Promise((r) => setTimeout(r, 50));
      return 42;
    });
    const after = t.run('c:10').then(() => order.push('c'));
    expect(await alone).toBe(42);
    await Promise.all([...steps, after]);
    expect(order.slice(2)).toEqual(['alone while 0 threads ran', 'c']);
  });

  it('fails the step of a child that dies with its exit and last words, and goes on with a new child', async () => {
    pool = new StepPool(2, { script });
    const t = tracked(pool);
    const error = await t.run('die:0').catch((e: unknown) => e);
    expect(String(error)).toMatch(/stopped with exit code 3; its last words: out of memory, say/);
    await t.run('ok:10');
  });

  it("keeps a user's error as it was (code, message, exit code), and cancels a step in a child", async () => {
    pool = new StepPool(2, { script });
    const t = tracked(pool);
    const bad = await t.run('bad:10').catch((e: unknown) => e);
    expect(isMcbError(bad) && bad.code === 'MCB_RECIPE_INVALID' && bad.exitCode === 2).toBe(true);
    expect((bad as Error).message).toBe('the recipe at x.yaml:3:4 is wrong; fix it');
    const controller = new AbortController();
    const hung = t.run('hang:0', controller.signal);
    setTimeout(() => controller.abort(), 100);
    expect(isCancelled(await hung.catch((e: unknown) => e))).toBe(true);
    // A closed pool refuses more work as cancelled.
    pool.close();
    expect(isCancelled(await t.run('ok:1').catch((e: unknown) => e))).toBe(true);
  });

  it('carries errors across as they were', () => {
    const mcb = fromWire(toWire(new McbError('MCB_DATASET', 'no such file d.npz; fix the path')));
    expect(isMcbError(mcb) && mcb.code === 'MCB_DATASET' && mcb.exitCode === 2).toBe(true);
    const bug = fromWire(toWire(new TypeError('x is undefined')));
    expect(isMcbError(bug)).toBe(false);
    expect(bug.message).toBe('x is undefined');
    expect(bug.stack).toMatch(/TypeError: x is undefined\n\s+at /);
  });
});
