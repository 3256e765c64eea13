import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StepCache } from '../../src/cache/index.js';
import { listFiles, tempDir } from '../helpers.js';

const contentFiles = (dir: string) => listFiles(join(dir, 'content-v2'));

const entry = () => ({
  files: new Map([
    ['model.json', new TextEncoder().encode('{"a":1}')],
    ['w.bin', new Uint8Array(4096).map((_, i) => i % 251)],
  ]),
  meta: { accuracy: 0.5, note: 'x' },
});

describe('StepCache', () => {
  it('misses, then hits with the same bytes', async () => {
    const cache = new StepCache(tempDir());
    expect(await cache.has('k1')).toBe(false);
    expect(await cache.read('k1')).toBeUndefined();
    await cache.write('k1', entry());
    expect(await cache.has('k1')).toBe(true);
    const got = await cache.read('k1');
    expect(got?.meta).toEqual({ accuracy: 0.5, note: 'x' });
    expect([...got!.files.keys()]).toEqual(['model.json', 'w.bin']);
    expect(Buffer.from(got!.files.get('w.bin')!)).toEqual(Buffer.from(entry().files.get('w.bin')!));
  });

  it('turns a corrupted file into a miss, reports it, and can store the entry again', async () => {
    const dir = tempDir();
    const damaged: string[] = [];
    const cache = new StepCache(dir, (key, reason) => damaged.push(`${key}: ${reason}`));
    await cache.write('k', entry());
    const blob = contentFiles(dir).find((f) => readFileSync(f).byteLength === 4096)!;
    const bytes = readFileSync(blob);
    bytes[100]! ^= 1;
    writeFileSync(blob, bytes);
    expect(await cache.read('k')).toBeUndefined();
    expect(damaged).toEqual(['k: its file w.bin is corrupt']);
    expect(await cache.has('k')).toBe(false);
    await cache.write('k', entry());
    expect((await cache.read('k'))?.files.get('w.bin')?.[100]).toBe(100 % 251);
  });

  it('turns a missing file into a miss', async () => {
    const dir = tempDir();
    const damaged: string[] = [];
    const cache = new StepCache(dir, (key, reason) => damaged.push(reason));
    await cache.write('k', entry());
    rmSync(contentFiles(dir).find((f) => readFileSync(f).byteLength === 4096)!);
    expect(await cache.read('k')).toBeUndefined();
    expect(damaged).toEqual(['its file w.bin is missing']);
  });

  it('an entry whose files were stored but whose index line was never written is a miss', async () => {
    // What a build killed between storing the files and committing the entry leaves behind.
    const dir = tempDir();
    const cache = new StepCache(dir);
    const cacache = (await import('cacache')).default;
    await cacache.put(dir, 'file:k:w.bin', new Uint8Array(10));
    expect(await cache.has('k')).toBe(false);
    expect(await cache.read('k')).toBeUndefined();
  });

  it('a hit refreshes the time of an entry last written over an hour ago, so gc --max-age keeps what builds reuse', async () => {
    const dir = tempDir();
    const cache = new StepCache(dir);
    await cache.write('k', entry());
    const cacache = (await import('cacache')).default;
    const info = (await cacache.get.info(dir, 'step:k'))!;
    const old = Date.now() - 3 * 3600_000;
    // cacache honours `time` on insert (lib/entry-index.js), though its typings leave it out.
    await cacache.index.insert(dir, 'step:k', info.integrity, {
      metadata: info.metadata,
      size: info.size,
      time: old,
    } as Parameters<typeof cacache.index.insert>[3]);
    expect((await cacache.get.info(dir, 'step:k'))!.time).toBe(old);
    expect(await cache.read('k')).toBeDefined();
    expect((await cacache.get.info(dir, 'step:k'))!.time).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a flipped byte in the metadata is caught; the bad blob goes, so the entry can be stored again', async () => {
    const dir = tempDir();
    const damaged: string[] = [];
    const cache = new StepCache(dir, (_key, reason) => damaged.push(reason));
    await cache.write('k', entry());
    // The metadata blob is the only JSON content file.
    const blob = contentFiles(dir).find((f) => readFileSync(f, 'utf8').startsWith('{"accuracy"'))!;
    const bytes = readFileSync(blob);
    bytes[5]! ^= 1;
    writeFileSync(blob, bytes);
    expect(await cache.read('k', { metaOnly: true })).toBeUndefined();
    expect(damaged).toEqual(['its metadata failed verification']);
    // cacache never overwrites content: had the bad blob stayed, every rewrite would be damaged again.
    expect(contentFiles(dir)).not.toContain(blob);
    await cache.write('k', entry());
    expect((await cache.read('k'))?.meta).toEqual({ accuracy: 0.5, note: 'x' });
  });

  it('damage found on an entry another build has since stored again leaves the new entry committed', async () => {
    const dir = tempDir();
    const cache = new StepCache(dir);
    await cache.write('k', entry());
    const blob = contentFiles(dir).find((f) => readFileSync(f).byteLength === 4096)!;
    const bytes = readFileSync(blob);
    bytes[7]! ^= 1;
    writeFileSync(blob, bytes);
    // Another build notices first, drops the entry and stores it again; then a slow reader, which read the old
    // index line before all that, reports its damage: it must not uncommit the good entry nor delete its bytes.
    const cacache = (await import('cacache')).default;
    const old = (await cacache.get.info(dir, 'step:k'))!;
    expect(await cache.read('k')).toBeUndefined();
    await cache.write('k', entry());
    const late = cache as unknown as { damaged(key: string, judged: typeof old, reason: string): Promise<undefined> };
    await late.damaged('k', old, 'its file w.bin is corrupt');
    expect((await cache.read('k'))?.files.get('w.bin')?.[7]).toBe(7);
  });

  it('an index line whose metadata is not what mcbuild writes is damage, not a crash', async () => {
    const dir = tempDir();
    const damaged: string[] = [];
    const cache = new StepCache(dir, (_key, reason) => damaged.push(reason));
    const cacache = (await import('cacache')).default;
    await cacache.put(dir, 'step:k', Buffer.from('{}'), { metadata: { files: 'nope' } });
    expect(await cache.read('k')).toBeUndefined();
    expect(damaged).toEqual(['its index line is malformed']);
  });

  it('a torn index line is ignored, not a crash', async () => {
    const dir = tempDir();
    const cache = new StepCache(dir);
    await cache.write('k', entry());
    for (const f of listFiles(join(dir, 'index-v5'))) writeFileSync(f, readFileSync(f, 'utf8').slice(0, -20));
    expect(await cache.read('k')).toBeUndefined();
  });
});
