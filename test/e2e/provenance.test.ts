/**
 * Reproducibility, provenance, signing and `mcbuild verify`, end to end on real builds. Two cold builds of one
 * recipe (with a latency threshold, the hardest case) in two projects, two caches, two output folders and two
 * working directories must write the same bytes for every attested file; then verify must catch each kind of
 * tampering by name, and signatures must bind an output to one key.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { ROOT, runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const schema = (name: string) =>
  ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schema', `${name}.schema.json`), 'utf8')) as object);
const validateRun = schema('run');
const validateReport = schema('report');

const dir = tempDir('mcbuild-provenance-');
const keys = join(dir, 'keys');
const other = join(dir, 'other-keys');
// A latency threshold no machine misses: its check line carries a measurement, which must stay out of report.json.
const RECIPE = tinyRecipe({
  thresholds: '  accuracy: { maxDrop: 0.05 }\n  latency: { maxMs: 100000 }',
  extra: 'runtime:\n  latency: { batchSizes: [1], runs: 5 }\n',
});
const ATTESTED = ['group1-shard1of1.bin', 'model.json', 'provenance.json', 'report.json'];
// Project A builds from its own folder into ./out; project B from a subfolder, into another folder named by --out.
const a = { project: join(dir, 'a'), out: join(dir, 'a', 'out') };
const b = { project: join(dir, 'b'), out: join(dir, 'b', 'elsewhere', 'result') };
const bytes = (out: string, f: string) => readFileSync(join(out, f));
let builds: CliRun[];

beforeAll(async () => {
  writeText(join(a.project, 'tiny.yaml'), RECIPE);
  writeText(join(b.project, 'tiny.yaml'), RECIPE);
  mkdirSync(join(b.project, 'sub'));
  expect((await runCli(['keygen', '--out', keys])).code).toBe(0);
  expect((await runCli(['keygen', '--out', other])).code).toBe(0);
  // One signs with --sign-key, the other with MCBUILD_SIGN_KEY holding the PEM itself.
  builds = await Promise.all([
    runCli(['tiny.yaml', '--cache-dir', join(dir, 'cache-a'), '--sign-key', join(keys, 'mcbuild-sign.pem')], {
      cwd: a.project,
    }),
    runCli(['../tiny.yaml', '--cache-dir', '../cache', '--out', '../elsewhere/result'], {
      cwd: join(b.project, 'sub'),
      env: { MCBUILD_SIGN_KEY: readFileSync(join(keys, 'mcbuild-sign.pem'), 'utf8') },
    }),
  ]);
}, 120_000);

describe('two cold builds of one recipe', () => {
  it('write the same bytes for the model, report.json, provenance.json, manifest.json and its signature', () => {
    for (const r of builds) expect(r.code, r.all).toBe(0);
    for (const f of [...ATTESTED, 'manifest.json', 'manifest.sig'])
      expect(bytes(b.out, f).equals(bytes(a.out, f)), f).toBe(true);
    // The run log and the page hold this run's timings: they differ, and the manifest says it does not cover them.
    expect(bytes(b.out, 'run.json').equals(bytes(a.out, 'run.json'))).toBe(false);
    const manifest = JSON.parse(bytes(a.out, 'manifest.json').toString());
    expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(ATTESTED);
    expect(manifest.unattested).toEqual(['report.html', 'run.json']);
  });

  it('keep timings, hosts and paths out of report.json and provenance.json, and put them in run.json', () => {
    const report = JSON.parse(bytes(a.out, 'report.json').toString());
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.metrics.result.latency).toBeUndefined();
    expect(report.metrics.latencyComparison).toBeUndefined();
    expect(report.thresholds.find((c: { name: string }) => c.name === 'latency.maxMs')).toEqual({
      name: 'latency.maxMs',
      pass: true,
      limit: 100000,
    });
    for (const f of ['report.json', 'provenance.json', 'manifest.json']) {
      const text = bytes(a.out, f).toString();
      expect(text, f).not.toContain(dir);
      expect(text, f).not.toMatch(/measuredAt|\d{4}-\d\d-\d\dT\d\d:/);
    }
    const run = JSON.parse(bytes(a.out, 'run.json').toString());
    expect(validateRun(run), JSON.stringify(validateRun.errors)).toBe(true);
    expect(run.latency.comparison.batches[0].batchSize).toBe(1);
    expect(run.latency.result.batches[0].runs).toBe(5);
    expect(run.thresholds[0]).toMatchObject({
      name: 'latency.maxMs',
      text: expect.stringMatching(/limit 100000\.0 ms on this machine/),
    });
    expect(run.cache).toEqual({
      hits: [],
      misses: ['baseline', 'eval-baseline', 'pass-1-quantize', 'eval-result', 'latency'],
    });
  });

  it('the terminal table, `mcbuild report` and report.html still show the latency (read back from run.json)', async () => {
    expect(builds[0]!.stdout).toMatch(/PASS {2}latency\.maxMs: the result's median at batch 1 is/);
    const r = await runCli(['report', a.out]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/latency b1 \*/);
    expect(r.stdout).toMatch(/PASS {2}latency\.maxMs: the result's median at batch 1 is [\d.]+ ms/);
    expect(bytes(a.out, 'report.html').toString()).toContain('chart-latency-');
  });

  it('provenance.json records the resolved recipe, every step key with its inputs, data digests and the verdict', () => {
    const p = JSON.parse(bytes(a.out, 'provenance.json').toString());
    const report = JSON.parse(bytes(a.out, 'report.json').toString());
    expect(p.recipe).toMatchObject({ name: 'tiny', file: 'tiny.yaml' });
    expect(p.recipe.resolved.passes).toEqual([{ quantize: { dtype: 'uint8' } }]);
    expect(p.recipe.resolved.output).toBeUndefined();
    expect(p.steps.map((s: { id: string; key: string }) => [s.id, s.key])).toEqual(
      report.steps.map((s: { id: string; key: string }) => [s.id, s.key]),
    );
    expect(p.steps[0].keyInputs).toMatchObject({ step: 'train', architecture: 'mlp', seed: 7 });
    expect(p.inputs.data.eval).toMatchObject({
      dataset: 'mnist',
      split: 'test',
      limit: 300,
      package: expect.stringMatching(/^mnist@/),
    });
    expect(p.backend).toBe('wasm');
    expect(p.versions['@tensorflow/tfjs-core']).toBe('4.22.0');
    expect(p.verdict).toBe('pass');
    expect(p.metrics).toEqual(report.metrics);
  });

  it("stamps the provenance digest into model.json's userDefinedMetadata; stock TF.js and mcbuild/runtime still load it", async () => {
    const json = JSON.parse(bytes(a.out, 'model.json').toString());
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(bytes(a.out, 'provenance.json')).digest('hex')}`;
    expect(json.userDefinedMetadata.mcbuild.provenance).toBe(digest);
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const report = JSON.parse(bytes(a.out, 'report.json').toString());
    for (const how of ['stock', 'loader']) {
      const out = JSON.parse(
        execFileSync(
          process.execPath,
          [join(ROOT, 'test/load-model.mjs'), a.out, how, 'layers', inputs, '300', '28,28,1'],
          { cwd: ROOT },
        ).toString(),
      ) as { classes?: number[]; error?: string };
      expect(out.error, how).toBeUndefined();
      expect(out.classes!.filter((c, i) => c === test.y[i]).length, how).toBe(report.metrics.result.correct);
    }
  });
});

describe('mcbuild verify', () => {
  const copy = (name: string) => {
    const to = join(dir, 'tampered', name);
    cpSync(a.out, to, { recursive: true });
    return to;
  };
  const verify = (target: string, ...extra: string[]) => runCli(['verify', target, ...extra]);

  it('passes an untouched output, and checks the signature with the right public key', async () => {
    const plain = await verify(a.out);
    expect(plain.code, plain.all).toBe(0);
    expect(plain.stdout).toMatch(
      /OK {2}\S+: 4 files match manifest\.json, provenance digest matches, signature present, not checked/,
    );
    const signed = await verify(b.out, '--pub', join(keys, 'mcbuild-sign.pub.pem'));
    expect(signed.code, signed.all).toBe(0);
    expect(signed.stdout).toMatch(/signature valid/);
    const json = JSON.parse((await verify(a.out, '--json')).stdout);
    expect(json).toMatchObject({ ok: true, verified: 4, problems: [], unattested: ['report.html', 'run.json'] });
  });

  it('fails (exit 1) naming the file: a flipped shard byte, a deleted file, an added file, an edited provenance.json', async () => {
    const flipped = copy('flipped');
    const shard = bytes(flipped, 'group1-shard1of1.bin');
    shard[100]! ^= 0x01;
    writeFileSync(join(flipped, 'group1-shard1of1.bin'), shard);
    const deleted = copy('deleted');
    rmSync(join(deleted, 'report.json'));
    const added = copy('added');
    writeText(join(added, 'extra.js'), 'alert(1)\n');
    const edited = copy('edited');
    writeFileSync(
      join(edited, 'provenance.json'),
      bytes(edited, 'provenance.json').toString().replace('"verdict": "pass"', '"verdict": "fail"'),
    );
    const cases: [string, RegExp[]][] = [
      [flipped, [/FAIL {2}group1-shard1of1\.bin: changed: sha256 [0-9a-f]{12}… \(25450 bytes\), the manifest says/]],
      [deleted, [/FAIL {2}report\.json: listed in the manifest but missing/]],
      [added, [/FAIL {2}extra\.js: not in the manifest/]],
      [
        edited,
        [
          /FAIL {2}provenance\.json: changed/,
          /FAIL {2}model\.json: names provenance sha256:[0-9a-f]{12}…, but provenance\.json is sha256:/,
        ],
      ],
    ];
    for (const [target, messages] of cases) {
      const r = await verify(target);
      expect(r.code, r.all).toBe(1);
      for (const m of messages) expect(r.stdout).toMatch(m);
      expect(r.stdout).toMatch(/FAILED {2}\S+: \d problems?/);
    }
    // The run log is not attested: editing it is not a failure (it is informative only).
    const run = copy('run');
    appendFileSync(join(run, 'run.json'), ' ');
    expect((await verify(run)).code).toBe(0);
  });

  it('fails, without hanging or reading elsewhere, on links and special files in place of built files, and on a manifest that drops or repeats an entry', async () => {
    const linked = copy('linked');
    rmSync(join(linked, 'group1-shard1of1.bin'));
    symlinkSync('/dev/zero', join(linked, 'group1-shard1of1.bin'));
    rmSync(join(linked, 'run.json'));
    symlinkSync('/etc/passwd', join(linked, 'run.json'));
    const fifo = copy('fifo');
    rmSync(join(fifo, 'model.json'));
    execFileSync('mkfifo', [join(fifo, 'model.json')]);
    const dropped = copy('dropped');
    const m = JSON.parse(bytes(dropped, 'manifest.json').toString());
    m.files = m.files.filter((f: { name: string }) => f.name !== 'provenance.json');
    m.files.push(m.files[0]);
    writeFileSync(join(dropped, 'manifest.json'), JSON.stringify(m));
    rmSync(join(dropped, 'provenance.json'));
    const cases: [string, RegExp[]][] = [
      [
        linked,
        [
          /FAIL {2}group1-shard1of1\.bin: is a symbolic link, not a regular file/,
          /FAIL {2}run\.json: is a symbolic link, not a regular file/,
        ],
      ],
      [fifo, [/FAIL {2}model\.json: is a special file, not a regular file/]],
      [
        dropped,
        [
          /FAIL {2}provenance\.json: not listed in manifest\.json/,
          /FAIL {2}group1-shard1of1\.bin: listed twice in manifest\.json/,
        ],
      ],
    ];
    for (const [target, messages] of cases) {
      const r = await verify(target);
      expect(r.code, r.all).toBe(1);
      for (const msg of messages) expect(r.stdout).toMatch(msg);
      expect(r.stdout).not.toMatch(/provenance digest matches/);
    }
  }, 30_000);

  it('fails with another key, and with --pub on an unsigned output; a changed manifest breaks the signature', async () => {
    const wrong = await verify(a.out, '--pub', join(other, 'mcbuild-sign.pub.pem'));
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/FAIL {2}manifest\.sig: does not verify with this public key/);
    const unsigned = copy('unsigned');
    rmSync(join(unsigned, 'manifest.sig'));
    const r = await verify(unsigned, '--pub', join(keys, 'mcbuild-sign.pub.pem'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}manifest\.sig: missing: the output is not signed/);
    expect((await verify(unsigned)).code).toBe(0);
    const resigned = copy('manifest-edited');
    writeFileSync(
      join(resigned, 'manifest.json'),
      bytes(resigned, 'manifest.json').toString().replace('"unattested": [', '"unattested": [\n    "extra.js",'),
    );
    expect((await verify(resigned, '--pub', join(keys, 'mcbuild-sign.pub.pem'))).code).toBe(1);
  });

  it('MCBUILD_SIGN_KEY: a one-line PEM with \\n escapes signs; an empty one warns; an encrypted or public PEM is named as such', async () => {
    const build = (key: string, out: string) =>
      runCli(['tiny.yaml', '--cache-dir', join(dir, 'cache-a'), '--out', out], {
        cwd: a.project,
        env: { MCBUILD_SIGN_KEY: key },
      });
    const pem = readFileSync(join(keys, 'mcbuild-sign.pem'), 'utf8');
    const oneLine = await build(pem.trimEnd().split('\n').join('\\n'), 'out-one-line');
    expect(oneLine.code, oneLine.all).toBe(0);
    expect((await verify(join(a.project, 'out-one-line'), '--pub', join(keys, 'mcbuild-sign.pub.pem'))).code).toBe(0);
    const empty = await build('', 'out-empty');
    expect(empty.code, empty.all).toBe(0);
    expect(empty.stderr).toMatch(/warning: MCBUILD_SIGN_KEY is set but empty, so the output will not be signed/);
    const encrypted = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
    const enc = await build(encrypted, 'out-enc');
    expect(enc.code).toBe(2);
    expect(enc.stderr).toMatch(/the PEM in MCBUILD_SIGN_KEY: it is encrypted with a passphrase/);
    const pub = await build(readFileSync(join(keys, 'mcbuild-sign.pub.pem'), 'utf8'), 'out-pub');
    expect(pub.code).toBe(2);
    expect(pub.stderr).toMatch(/it is not a PEM private key but a public key/);
    expect(stackLines(enc.all + pub.all)).toEqual([]);
  }, 60_000);

  it('bad usage and bad keys are exit 2 with the fix and no stack', async () => {
    const missing = await verify(join(dir, 'nope'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope does not exist\. Pass the output folder a build wrote/);
    const notOutput = await verify(keys);
    expect(notOutput.code).toBe(2);
    expect(notOutput.stderr).toMatch(/holds no readable manifest\.json/);
    const badPub = await verify(a.out, '--pub', join(a.project, 'tiny.yaml'));
    expect(badPub.code).toBe(2);
    expect(badPub.stderr).toMatch(/cannot use the key file \S+tiny\.yaml \(--pub\): it is not a PEM public key/);
    const badSign = await runCli(
      ['tiny.yaml', '--cache-dir', join(dir, 'cache-a'), '--sign-key', join(keys, 'mcbuild-sign.pub.pem')],
      { cwd: a.project },
    );
    expect(badSign.code).toBe(2);
    expect(badSign.stderr).toMatch(
      /cannot use the key file \S+mcbuild-sign\.pub\.pem \(--sign-key\): it is not a PEM private key.*mcbuild keygen/,
    );
    const again = await runCli(['keygen', '--out', keys]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; mcbuild keygen never overwrites a key/);
    // --out naming a file is not "a key already exists".
    const intoFile = await runCli(['keygen', '--out', join(a.project, 'tiny.yaml')]);
    expect(intoFile.code).toBe(2);
    expect(intoFile.stderr).toMatch(
      /cannot write the key pair to \S+tiny\.yaml: it \(or a folder above it\) is a file, not a folder/,
    );
    expect(intoFile.stderr).not.toMatch(/already exists/);
    expect(stackLines(missing.all + notOutput.all + badPub.all + badSign.all + again.all + intoFile.all)).toEqual([]);
  });
});
