import cacache from 'cacache';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findEntry, readContent } from '../../src/cache/fast-read.js';
import { errnoCode } from '../../src/errors.js';
import { listFiles, tempDir } from '../helpers.js';

/** The error code a read fails with, or 'ok'. */
const outcome = (read: Promise<unknown>) =>
  read.then(
    () => 'ok',
    (e: unknown) => errnoCode(e) ?? String(e),
  );

describe('fast-read: the step cache read as cacache reads it', () => {
  it('finds the newest entry of a key with its metadata, as cacache.get.info does', async () => {
    const dir = tempDir();
    expect(await findEntry(dir, 'step:a')).toBeNull();
    await cacache.put(dir, 'step:a', Buffer.from('one'), { metadata: { files: [{ name: 'x' }] } });
    await cacache.put(dir, 'step:a', Buffer.from('two'), { metadata: { files: [{ name: 'y' }] } });
    await cacache.put(dir, 'step:b', Buffer.from('three'));
    for (const key of ['step:a', 'step:b']) {
      const ours = await findEntry(dir, key);
      const theirs = (await cacache.get.info(dir, key))!;
      expect(ours).toEqual({
        key: theirs.key,
        integrity: theirs.integrity,
        size: theirs.size,
        time: theirs.time,
        metadata: theirs.metadata,
      });
    }
    expect((await findEntry(dir, 'step:a'))?.metadata).toEqual({ files: [{ name: 'y' }] });
    expect(await findEntry(dir, 'step:c')).toBeNull();
  });

  it('a deleted key is a miss; a torn or altered index line is ignored, as by cacache', async () => {
    const dir = tempDir();
    await cacache.put(dir, 'step:a', Buffer.from('one'));
    await cacache.rm.entry(dir, 'step:a');
    expect(await findEntry(dir, 'step:a')).toBeNull();
    expect(await cacache.get.info(dir, 'step:a')).toBeNull();

    await cacache.put(dir, 'step:b', Buffer.from('two'));
    const [bucket] = listFiles(join(dir, 'index-v5'));
    const good = await findEntry(dir, 'step:b');
    // A line whose hash does not match its text (half written, or edited): both readers skip it.
    const line = readFileSync(bucket!, 'utf8').trim().split('\n').at(-1)!;
    appendFileSync(bucket!, `\n${line.replace('"step:b"', '"step:b" ')}\n${line.slice(0, 30)}`);
    expect(await findEntry(dir, 'step:b')).toEqual(good);
    expect((await cacache.get.info(dir, 'step:b'))!.integrity).toBe(good?.integrity);
  });

  it('reads content by integrity, and fails on missing or damaged content with the codes cacache uses', async () => {
    const dir = tempDir();
    const data = new Uint8Array(5000).map((_, i) => i % 253);
    // put returns an ssri Integrity; index lines and the step cache's metadata hold its string form.
    const integrity = (await cacache.put(dir, 'file:k:w.bin', data)).toString();
    expect(Buffer.compare(await readContent(dir, integrity), Buffer.from(data))).toBe(0);

    const [blob] = listFiles(join(dir, 'content-v2')).filter((f) => readFileSync(f).byteLength === 5000);
    const bytes = readFileSync(blob!);
    bytes[7]! ^= 1;
    writeFileSync(blob!, bytes);
    expect(await outcome(readContent(dir, integrity))).toBe('EINTEGRITY');
    expect(await outcome(cacache.get.byDigest(dir, integrity))).toBe('EINTEGRITY');

    rmSync(blob!);
    expect(await outcome(readContent(dir, integrity))).toBe('ENOENT');
    expect(await outcome(cacache.get.byDigest(dir, integrity))).toBe('ENOENT');
  });
});
