/**
 * Watch mode's scheduler (RecipeWatcher, no terminal needed) follows `extends`: saving a base file rebuilds
 * the recipe that extends it, and a matrix recipe is rebuilt as a sweep.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecipeWatcher, type WatchEvent } from '../../src/build/watch.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-watch-extends-');
const watchers: RecipeWatcher[] = [];
afterAll(async () => {
  for (const w of watchers) await w.close();
});

async function until(events: WatchEvent[], test: (e: WatchEvent[]) => boolean, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (test(events)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out; events: ${events.map((e) => e.type).join(', ')}`);
}

describe('watch mode with extends and matrix', () => {
  it('rebuilds when a base file changes, and builds every variant of a matrix', { timeout: 120_000 }, async () => {
    const base = writeText(join(dir, 'base.yaml'), 'thresholds:\n  accuracy: { maxDrop: 0.05 }\n');
    const child = writeText(
      join(dir, 'child.yaml'),
      `extends: ./base.yaml\n${tinyRecipe({ passes: '  - quantize: { bits: "${{ matrix.bits }}" }', extra: 'matrix:\n  bits: [8, 16]\n' }).replace(/thresholds:\n.*\n/, '')}`,
    );
    const events: WatchEvent[] = [];
    const watcher = new RecipeWatcher([child], {
      cacheDir: join(dir, 'cache'),
      debounceMs: 50,
      onEvent: (e) => events.push(e),
    });
    watchers.push(watcher);
    await watcher.start();
    const done = () => events.filter((e): e is Extract<WatchEvent, { type: 'build-done' }> => e.type === 'build-done');
    await until(events, () => done().length >= 1 && events.at(-1)!.type === 'idle');
    expect(events.filter((e) => e.type === 'build-failed')).toEqual([]);
    const first = done()[0]!;
    expect(first.set.sweep!.variants.map((v) => v.name)).toEqual(['bits=8', 'bits=16']);
    expect(first.set.sweep!.verdict).toBe('pass');

    // Tightening the base's threshold to an impossible value rebuilds from cache and fails every variant.
    writeFileSync(base, 'thresholds:\n  accuracy: { min: 1 }\n');
    await until(events, () => done().length >= 2 && events.at(-1)!.type === 'idle');
    const start = events
      .filter((e): e is Extract<WatchEvent, { type: 'build-start' }> => e.type === 'build-start')
      .at(-1)!;
    expect(start.trigger).toMatch(/base\.yaml/);
    const second = done()[1]!;
    expect(second.set.sweep!.verdict).toBe('fail');
    expect(second.set.results.every((r) => r.execution.ran.length === 0)).toBe(true);
  });

  it(
    'watches a base that is broken when watching starts, and builds once it is fixed',
    { timeout: 120_000 },
    async () => {
      const base = writeText(join(dir, 'broken-base.yaml'), 'thresholds:\n  accuracy: { maxDrop: 7 }\n');
      const child = writeText(
        join(dir, 'broken-child.yaml'),
        `extends: ./broken-base.yaml\n${tinyRecipe({ output: './out-broken' }).replace(/thresholds:\n.*\n/, '')}`,
      );
      const events: WatchEvent[] = [];
      const watcher = new RecipeWatcher([child], {
        cacheDir: join(dir, 'cache'),
        debounceMs: 50,
        onEvent: (e) => events.push(e),
      });
      watchers.push(watcher);
      await watcher.start();
      await until(events, () => events.some((e) => e.type === 'build-failed') && events.at(-1)!.type === 'idle');
      const failed = events.find((e): e is Extract<WatchEvent, { type: 'build-failed' }> => e.type === 'build-failed')!;
      expect(String((failed.error as Error).message)).toMatch(/broken-base\.yaml:2:/);
      expect(watcher.watchedFiles).toBe(2);
      writeFileSync(base, 'thresholds:\n  accuracy: { maxDrop: 0.5 }\n');
      await until(events, () => events.some((e) => e.type === 'build-done') && events.at(-1)!.type === 'idle');
    },
  );
});
