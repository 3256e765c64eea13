/**
 * The remote cache as a source (src/cache/remote.ts): a step missing here whose action record the remote
 * holds is downloaded, verified and kept in the local cache, so the next build here is all local. Damage or
 * an outage is a miss (warned once by the remote cache), and the step is computed.
 */
import type { CacheEntry } from '../cache/index.js';
import type { Step } from '../plan/index.js';
import { announceCached, type BuildState, type StepSource } from './source.js';

export class RemoteCacheSource implements StepSource {
  constructor(private readonly state: BuildState) {}

  async provide(step: Step): Promise<CacheEntry | undefined> {
    const s = this.state;
    if (!s.remote) return undefined;
    // After the workers were given up on, jobs they still finish land in the remote cache: look before computing.
    if (!s.remoteIndexed.has(step.id) && !(s.workersGone && (await s.remote.has(step.key, { signal: s.signal }))))
      return undefined;
    return readRemote(s, step);
  }
}

/**
 * The remote entry, verified: whole (and then kept in the local cache), or its metadata alone. Undefined on a
 * miss, damage or an outage; the step is then not looked for there again in this build.
 */
export async function readRemote(s: BuildState, step: Step, metaOnly = false): Promise<CacheEntry | undefined> {
  if (!s.remote) return undefined;
  const entry = await s.remote.read(step.key, { metaOnly, signal: s.signal });
  if (!entry) {
    s.remoteIndexed.delete(step.id);
    return undefined;
  }
  if (!metaOnly) {
    await s.cache.write(step.key, entry);
    s.outputs.set(step.id, entry);
  }
  announceCached(s, step, 'remote');
  return entry;
}
