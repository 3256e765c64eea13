/**
 * SIGTERM (how CI runners, containers and systemd stop a job) cancels a build like Ctrl-C: the step in flight
 * caches nothing, and the step lock and lease are released, not left behind for a later build (whose holder pid
 * the system may by then have given to an unrelated process, which a waiter would take for a live holder).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { BIN, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-sigterm-');
const SLOW = `  train:
    architecture: mlp
    options: { hidden: [32] }
    dataset: mnist
    limit: 6000
    epochs: 20
    batchSize: 32
    seed: 7`;

it('SIGTERM during a step cancels the build (exit 130) and leaves no step lock or lease behind', async () => {
  writeText(join(dir, 'package.json'), '{"name":"p"}\n');
  writeText(join(dir, 'slow.yaml'), tinyRecipe({ model: SLOW }));
  const locks = join(dir, 'cache', 'locks');
  const leases = join(dir, 'cache', 'leases');
  const child = spawn(process.execPath, [BIN, 'slow.yaml', '--cache-dir', 'cache'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait until the baseline's training holds its lock.
  const deadline = Date.now() + 60_000;
  while (!(existsSync(locks) && readdirSync(locks).some((f) => f.endsWith('.lock')))) {
    expect(Date.now(), 'the build never took a step lock').toBeLessThan(deadline);
    await sleep(50);
  }
  await sleep(500);
  child.kill('SIGTERM');
  expect(await exited, stderr).toBe(130);
  expect(stderr).toMatch(/terminated, cancelling/);
  expect(stderr).toMatch(/MCB_CANCELLED/);
  expect(readdirSync(locks)).toEqual([]);
  expect(existsSync(leases) ? readdirSync(leases) : []).toEqual([]);
}, 90_000);
