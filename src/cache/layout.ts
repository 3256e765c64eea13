/**
 * The names mcbuild keeps in a cache directory beside cacache's own (index-v5/, content-v2/, tmp/). One module
 * below store.ts, leases.ts and lock.ts, so each can name the others' folders without importing them.
 */

/** Where running builds record the keys they hold (see StepCache.hold). */
export const LEASES_DIR = 'leases';

/** Present while `cache gc` or `cache verify` sweeps content (see StepCache.hold); names the sweeping pid. */
export const SWEEP_FILE = 'sweep.lock';

/** Where the per-key locks live inside a cache directory. */
export const LOCKS_DIR = 'locks';
