/**
 * npm's cacache, loaded on first use: with the packages it requires it is ~100 files, and a cached build only
 * reads (./fast-read.ts). Writing, deleting and sweeping load it.
 */
import type Cacache from 'cacache';

export async function cacache(): Promise<typeof Cacache> {
  return (await import('cacache')).default;
}
