/**
 * Watch mode driven in a real terminal: tmux runs `mcbuild --watch` in a pseudo-terminal, the test edits
 * files and reads the screen. .ci/run installs tmux where it is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const dir = tempDir();
const recipe = join(dir, 'r.yaml');
const cacheDir = join(dir, 'cache');
const session = `mcbuild-watch-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args).toString();
const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-5000', '-t', session);
const count = (re: RegExp) => (screen().match(new RegExp(re, 'g')) ?? []).length;

async function until(what: string, test: () => boolean, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (test()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
}
const summaries = () => screen().match(/^\d+ steps, \d+ cached, \d+ run in [\d.]+ s — (PASS|FAIL)$/gm) ?? [];
const waitForBuild = async (n: number) =>
  until(
    `build #${n}`,
    () => summaries().length >= n && /waiting for changes[^\n]*\n*$/.test(screen().trimEnd() + '\n'),
  );
/** Only the screen printed since the marker line of the n-th build. */
const sinceBuild = (n: number) => screen().split(/^building r\.yaml$/m)[n] ?? '';

afterAll(() => {
  if (hasTmux) spawnSync('tmux', ['kill-session', '-t', session]);
});

describe('mcbuild --watch', () => {
  it('is refused without a terminal, with a way out', async () => {
    writeText(recipe, tinyRecipe());
    const r = await runCli(['--watch', recipe, '--cache-dir', cacheDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/watch mode needs an interactive terminal .* use --watch=force\./);
  });

  // tmux provides the pseudo-terminal; without it there is no terminal to drive (CI installs it).
  it.skipIf(!hasTmux)(
    'rebuilds only what an edit invalidates, survives a bad edit, cancels mid-build, and quits on q',
    { timeout: 240_000 },
    async () => {
      writeText(recipe, tinyRecipe());
      tmux(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '200',
        '-y',
        '50',
        `cd ${dir} && ${process.execPath} ${BIN} --watch r.yaml --cache-dir ${cacheDir}; echo EXIT=$?; sleep 600`,
      );
      await waitForBuild(1);
      expect(summaries()[0]).toMatch(/^4 steps, 0 cached, 4 run/);

      // A threshold edit re-gates from cache: nothing runs.
      writeText(recipe, tinyRecipe({ thresholds: '  accuracy: { maxDrop: 0.04 }' }));
      await waitForBuild(2);
      expect(summaries()[1]).toMatch(/^4 steps, 4 cached, 0 run in 0\.\d s — PASS$/);

      // A pass option reruns that pass and what follows, with the reason and the change since the last build.
      writeText(
        recipe,
        tinyRecipe({ thresholds: '  accuracy: { maxDrop: 0.04 }', passes: '  - quantize: { dtype: uint16 }' }),
      );
      await waitForBuild(3);
      expect(summaries()[2]).toMatch(/^4 steps, 2 cached, 2 run/);
      const third = sinceBuild(3);
      expect(third).toMatch(/\[run\]\s+pass-1-quantize: .*options\.dtype: "uint8" → "uint16"/);
      expect(third).not.toMatch(/\[run\]\s+baseline/);
      expect(third).toMatch(/vs previous build/);

      // A syntax error mid-edit is reported, and watching goes on; the fix builds.
      const good = readFileSync(recipe, 'utf8');
      writeFileSync(recipe, `${good}\n  oops: [`);
      await until('the YAML error', () => /YAML error/.test(screen()) && /still watching/.test(screen()));
      writeFileSync(recipe, good.replace('maxDrop: 0.04', 'maxDrop: 0.03'));
      await waitForBuild(4);

      // An edit during a long training run cancels it; nothing half-done is cached.
      const long = good.replace('epochs: 2', 'epochs: 400');
      writeFileSync(recipe, long);
      await until('the long build to start training', () => /\[run\]\s+baseline: .*epochs: 2 → 400/.test(screen()));
      writeFileSync(recipe, good);
      await until('the cancellation', () => /build cancelled; nothing half-done was cached/.test(screen()));
      await waitForBuild(5);
      writeText(join(dir, 'long.yaml'), long);
      const longPlan = JSON.parse(
        (await runCli(['plan', join(dir, 'long.yaml'), '--cache-dir', cacheDir, '--json'])).stdout,
      );
      expect(longPlan.steps.find((s: { id: string }) => s.id === 'baseline').cached).toBe(false);

      // Writing the output folder and the cache never retriggers a build.
      const builds = count(/^building r\.yaml$/m);
      await new Promise((r) => setTimeout(r, 1500));
      expect(count(/^building r\.yaml$/m)).toBe(builds);

      // Ctrl-C cancels the build in flight and keeps watching.
      writeFileSync(recipe, long);
      await until('the long build to start again', () => count(/\[run\]\s+baseline: .*epochs: 2 → 400/m) >= 2);
      tmux('send-keys', '-t', session, 'C-c');
      await until(
        'Ctrl-C to cancel',
        () =>
          count(/build cancelled; nothing half-done was cached/) >= 2 &&
          /cancelling the build \(Ctrl-C again to quit\)/.test(screen()),
      );
      await until('idle after the cancel', () => /waiting for changes[^\n]*\n*$/.test(screen().trimEnd() + '\n'));

      tmux('send-keys', '-t', session, 'h');
      await until('the key help', () => /Ctrl-C\s+cancel the build in flight/.test(screen()));
      tmux('send-keys', '-t', session, 'q');
      await until('exit', () => /EXIT=0/.test(screen()));
    },
  );
});
