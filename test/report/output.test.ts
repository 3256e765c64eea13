import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeOutput } from '../../src/report/output.js';
import { tempDir } from '../helpers.js';

describe('writeOutput', () => {
  it("removes the temporary folders a killed build left beside the output, and leaves a live writer's alone", async () => {
    const root = tempDir();
    // A pid that surely names no process: one that has just exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const deadNew = join(root, `.out.mcbuild-new-${dead}-k1`);
    const deadOld = join(root, `.out.mcbuild-old-${dead}-k1`);
    const live = join(root, `.out.mcbuild-new-${process.pid}-zz`);
    const other = join(root, `.other.mcbuild-new-${dead}-k1`); // another output's leftovers: not ours to judge
    for (const d of [deadNew, deadOld, live, other]) {
      mkdirSync(d);
      writeFileSync(join(d, 'model.json'), '{}');
    }
    const out = join(root, 'out');
    await writeOutput(out, new Map([['report.json', new TextEncoder().encode('{"generator":"mcbuild"}')]]));
    expect(readFileSync(join(out, 'report.json'), 'utf8')).toBe('{"generator":"mcbuild"}');
    expect([deadNew, deadOld].map(existsSync)).toEqual([false, false]);
    expect([live, other].map(existsSync)).toEqual([true, true]);
    expect(readdirSync(root).sort()).toEqual(
      [`.other.mcbuild-new-${dead}-k1`, `.out.mcbuild-new-${process.pid}-zz`, 'out'].sort(),
    );
  });
});
