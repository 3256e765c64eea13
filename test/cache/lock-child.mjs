// A process taking one step lock, for test/cache/lock.test.ts. Needs `npm run build` (imports dist/).
// usage: node test/cache/lock-child.mjs <cacheDir> <key> <holdMs|forever> <log> [rounds]
// Appends {"event":"enter"|"leave"|"wait"|"takeover","pid":…} lines to <log> (O_APPEND: whole lines) and
// prints "held" once it holds the lock the first time.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireKeyLock } from '../../dist/src/cache/lock.js';

const [cacheDir, key, hold, log, roundsText] = process.argv.slice(2);
const note = (event, extra = {}) => appendFileSync(log, `${JSON.stringify({ event, pid: process.pid, ...extra })}\n`);
const rounds = Number(roundsText ?? 1);
for (let i = 0; i < rounds; i++) {
  const lock = await acquireKeyLock(cacheDir, key, {
    onWait: (owner) => note('wait', { holder: owner?.pid }),
    onTakeover: (owner) => note('takeover', { from: owner?.pid }),
  });
  note('enter');
  if (i === 0) process.stdout.write('held\n');
  if (hold === 'forever') await new Promise(() => setInterval(() => {}, 1000));
  await sleep(Number(hold));
  note('leave');
  await lock.release();
}
