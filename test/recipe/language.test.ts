/**
 * The recipe language around the passes: `extends` (merge rules, positions in the file that wrote a value),
 * `--set`, and `matrix` expansion. Engine-free: nothing here trains or evaluates.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { McbError } from '../../src/errors.js';
import { formatPosition, type LoadOptions } from '../../src/recipe/index.js';
import { loadRecipe, loadRecipeSet } from '../../src/language/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-lang-');

async function loadError(file: string, opts: LoadOptions = {}): Promise<McbError> {
  const err = await loadRecipeSet(file, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McbError);
  return err as McbError;
}

describe('extends', () => {
  const base = writeText(
    join(dir, 'base', 'base.yaml'),
    `version: 1
name: base
model:
  path: ./models/model.json
data:
  eval: { dataset: mnist, split: test, limit: 300 }
passes:
  - quantize: { dtype: uint8 }
overrides:
  - layers: [fc_1]
    quantize: { dtype: float16 }
thresholds:
  accuracy: { maxDrop: 0.01, min: 0.5 }
`,
  );

  it('merges maps key by key (the child wins), replaces lists, appends override blocks after the base ones', async () => {
    const child = writeText(
      join(dir, 'child.yaml'),
      `extends: ./base/base.yaml
name: child
model:
  train: { architecture: mlp, limit: 500 }
passes:
  - quantize: { dtype: float16 }
  - shard: { shardBytes: 4096 }
overrides:
  - layers: [predictions]
    quantize: skip
thresholds:
  accuracy: { maxDrop: 0.02 }
`,
    );
    // model: the child's `train` cannot merge with the base's `path` (a model has exactly one source), so
    // the child must replace the whole map; writing `model: { train }` merges and is refused by the schema.
    const e = await loadError(child);
    expect(e.message).toMatch(/`model` must have exactly one of: path, train/);

    const ok = writeText(
      join(dir, 'child2.yaml'),
      (await import('node:fs'))
        .readFileSync(child, 'utf8')
        .replace('model:\n  train: { architecture: mlp, limit: 500 }\n', ''),
    );
    const r = await loadRecipe(ok);
    expect(r.name).toBe('child');
    expect(r.passes.map((p) => p.name)).toEqual(['quantize', 'shard']);
    expect(r.passes[0]!.rawOptions).toEqual({ dtype: 'float16' });
    expect(r.thresholds.accuracy).toEqual({ maxDrop: 0.02, min: 0.5 });
    expect(r.overrides.map((b) => [b.index, b.layers, b.passes])).toEqual([
      [0, ['fc_1'], { quantize: { dtype: 'float16' } }],
      [1, ['predictions'], { quantize: 'skip' }],
    ]);
    // A relative path is resolved against the file that wrote it, not the one that extends it.
    expect(r.model).toEqual({ kind: 'file', path: join(dir, 'base', 'models', 'model.json') });
    expect(r.files).toEqual([ok, base]);
    // Positions come from the file that wrote each value.
    expect(formatPosition(r.source.positionOf(['overrides', 0, 'layers']))).toMatch(/base[/\\]base\.yaml:10:13$/);
    expect(formatPosition(r.source.positionOf(['overrides', 1, 'layers']))).toMatch(/child2\.yaml:\d+:\d+$/);
    expect(formatPosition(r.source.positionOf(['thresholds', 'accuracy', 'min']))).toMatch(/base\.yaml:13:\d+$/);
    expect(formatPosition(r.source.positionOf(['thresholds', 'accuracy', 'maxDrop']))).toMatch(/child2\.yaml:\d+:\d+$/);
  });

  it('reports a bad value at the line of the base file that wrote it', async () => {
    const badBase = writeText(
      join(dir, 'bad-base.yaml'),
      'data:\n  eval: { dataset: mnist, split: test, limit: -3 }\n',
    );
    const child = writeText(
      join(dir, 'bad-child.yaml'),
      `extends: ./bad-base.yaml\n${tinyRecipe().replace(/data:\n.*\n/, '')}`,
    );
    const e = await loadError(child);
    expect(e.message).toContain(`${badBase.split('/').pop()}:2:`);
    expect(e.message).toMatch(/data\.eval\.limit/);
  });

  it('merges several bases in order, the later base winning', async () => {
    const a = writeText(join(dir, 'a.yaml'), 'thresholds:\n  accuracy: { maxDrop: 0.1 }\n  size: { minRatio: 2 }\n');
    const b = writeText(join(dir, 'b.yaml'), 'thresholds:\n  accuracy: { maxDrop: 0.2 }\n');
    const child = writeText(
      join(dir, 'ab.yaml'),
      `extends: [./a.yaml, ./b.yaml]\n${tinyRecipe().replace(/thresholds:\n.*\n/, '')}`,
    );
    const r = await loadRecipe(child);
    expect(r.thresholds).toEqual({ accuracy: { maxDrop: 0.2 }, size: { minRatio: 2 } });
    expect(r.files).toEqual([child, a, b]);
  });

  it('refuses a cycle, a missing base and a malformed extends, naming where', async () => {
    writeText(join(dir, 'c1.yaml'), 'extends: ./c2.yaml\nname: c1\n');
    writeText(join(dir, 'c2.yaml'), 'extends: ./c1.yaml\n');
    expect((await loadError(join(dir, 'c1.yaml'))).message).toMatch(
      /c2\.yaml:1:10 makes a cycle: .*c1\.yaml → .*c2\.yaml → .*c1\.yaml/,
    );
    const missing = writeText(join(dir, 'm.yaml'), 'extends: ./nope.yaml\nname: m\n');
    expect((await loadError(missing)).message).toMatch(
      /m\.yaml:1:10 names \.\/nope\.yaml, which does not exist \(looked at .*nope\.yaml\); fix the path, relative to this file\./,
    );
    const bad = writeText(join(dir, 'x.yaml'), 'extends: 3\nname: x\n');
    expect((await loadError(bad)).message).toMatch(
      /`extends` at .*x\.yaml:1:10 must be a recipe path or a list of them/,
    );
  });
});

describe('--set', () => {
  const file = writeText(
    join(dir, 'set.yaml'),
    tinyRecipe({ passes: '  - prune: { sparsity: 0.5 }\n  - quantize: { dtype: uint8 }' }),
  );

  it('sets typed values at any path, after extends', async () => {
    const r = await loadRecipe(file, {
      set: [
        'passes[1].quantize.bits=4',
        'passes[1].quantize.dtype=int4',
        'thresholds.accuracy.maxDrop=0.005',
        'thresholds.size.minRatio=3',
      ],
    });
    expect(r.passes[1]!.rawOptions).toEqual({ dtype: 'int4', bits: 4 });
    expect(r.thresholds).toEqual({ accuracy: { maxDrop: 0.005 }, size: { minRatio: 3 } });
  });

  it('a bad value set on the command line is reported as coming from there', async () => {
    const e = await loadError(file, { set: ['passes[0].prune.sparsity=1.5'] });
    expect(e.message).toMatch(
      /`passes\[0\]\.prune\.sparsity` must be <= 1 \(got 1\.5\) at the command line \(--set passes\[0\]\.prune\.sparsity=1\.5\)|sparsity.*the command line \(--set passes\[0\]\.prune\.sparsity=1\.5\)/,
    );
  });

  it('refuses malformed paths and missing list entries as usage errors', async () => {
    expect((await loadError(file, { set: ['passes[1]quantize=3'] })).code).toBe('MCB_USAGE');
    expect((await loadError(file, { set: ['nope'] })).message).toMatch(/is not of the form path=value/);
    const e = await loadError(file, { set: ['passes[5].quantize.bits=4'] });
    expect(e.code).toBe('MCB_USAGE');
    expect(e.message).toMatch(/`passes\[5\]` does not exist; the list has 2 entries/);
    expect((await loadError(file, { set: ['passes.quantize=4'] })).message).toMatch(
      /`passes` is a list; index it as \[0\]/,
    );
  });
});

describe('matrix', () => {
  const sweep = (
    extra = '',
    passes = '  - prune: { sparsity: "${{ matrix.sparsity }}" }\n  - quantize: { bits: "${{ matrix.bits }}" }',
  ) =>
    writeText(
      join(dir, `m${Math.random().toString(36).slice(2)}.yaml`),
      tinyRecipe({ passes, extra: `matrix:\n  bits: [8, 4]\n  sparsity: [0.5, 0.75, 0.9]\n${extra}` }),
    );

  it('expands every combination, in the order written, with values keeping their types', async () => {
    const set = await loadRecipeSet(sweep('gate: best\n'));
    expect(set.gate).toBe('best');
    expect(set.variants.map((v) => v.variant!.name)).toEqual([
      'bits=8,sparsity=0.5',
      'bits=8,sparsity=0.75',
      'bits=8,sparsity=0.9',
      'bits=4,sparsity=0.5',
      'bits=4,sparsity=0.75',
      'bits=4,sparsity=0.9',
    ]);
    const v = set.variants[4]!;
    expect(v.passes.map((p) => p.rawOptions)).toEqual([{ sparsity: 0.75 }, { bits: 4 }]);
    expect(v.output).toMatch(/out[/\\]bits-4_sparsity-0\.75$/);
  });

  it('interpolates inside longer strings and selects one variant with --variant', async () => {
    const set = await loadRecipeSet(
      sweep('', '  - quantize: { dtype: "int${{ matrix.bits }}" }\n  - prune: { sparsity: "${{ matrix.sparsity }}" }'),
      { variant: 'bits=4,sparsity=0.9' },
    );
    expect(set.variants).toHaveLength(1);
    expect(set.variants[0]!.passes[0]!.rawOptions).toEqual({ dtype: 'int4' });
    const e = await loadError(sweep(), { variant: 'bits=2' });
    expect(e.message).toMatch(/--variant bits=2 is not a variant .*; its variants are: bits=8,sparsity=0\.5/);
  });

  it('names an unknown matrix key, a placeholder without a matrix, and a value that is wrong once substituted', async () => {
    const unknown = await loadError(sweep('', '  - quantize: { bits: "${{ matrix.bit }}" }'));
    expect(unknown.message).toMatch(
      /:15:23 uses `matrix\.bit`, which the matrix does not define \(did you mean `bits`\?\)/,
    );
    const none = await loadError(
      writeText(join(dir, 'nomatrix.yaml'), tinyRecipe({ passes: '  - quantize: { bits: "${{ matrix.bits }}" }' })),
    );
    expect(none.message).toMatch(/uses `\$\{\{ matrix\.… \}\}`, but the recipe has no `matrix`/);
    const wrong = await loadError(
      writeText(
        join(dir, 'wrong.yaml'),
        tinyRecipe({ passes: '  - prune: { sparsity: "${{ matrix.s }}" }', extra: 'matrix:\n  s: [0.5, 2]\n' }),
      ),
    );
    expect(wrong.message).toMatch(/`passes\[0\]\.prune\.sparsity` must be < 1 \(got 2\) at .*:15:24/);
    const dup = await loadError(writeText(join(dir, 'dup.yaml'), tinyRecipe({ extra: 'matrix:\n  s: [1, 1]\n' })));
    expect(dup.message).toMatch(/lists a value twice/);
  });

  it('a single-recipe command asks for --variant', async () => {
    const e = await loadRecipe(sweep()).then(
      () => undefined,
      (x: unknown) => x as McbError,
    );
    expect(e?.message).toMatch(/has a matrix of 6 variants; this command takes one: add --variant/);
  });
});

describe('review fixes: the language refuses what would silently do the wrong thing', () => {
  const file = writeText(join(dir, 'rv.yaml'), tinyRecipe({ passes: '  - quantize: { dtype: uint8 }' }));

  it('--set refuses prototype keys and extends, and blames the command line for maps it created', async () => {
    for (const bad of ['__proto__.polluted=1', 'thresholds.__proto__.x=1', 'constructor=1']) {
      const e = await loadError(file, { set: [bad] });
      expect(e.code).toBe('MCB_USAGE');
      expect(e.message).toMatch(/is not a recipe key/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await loadError(file, { set: ['extends=./other.yaml'] })).message).toMatch(
      /`extends` is read before --set applies/,
    );
    const deep = await loadError(file, { set: ['nope.deep.key=1'] });
    expect(deep.message).toMatch(/unknown key `nope` at the command line \(--set nope\.deep\.key=1\)/);
  });

  it('null in an extending file removes what the base set', async () => {
    writeText(
      join(dir, 'nb.yaml'),
      'model:\n  path: ./models/m/model.json\noverrides:\n  - layers: [fc_1]\n    quantize: skip\n',
    );
    const child = writeText(
      join(dir, 'nc.yaml'),
      `extends: ./nb.yaml\n${tinyRecipe().replace('model:\n', 'model:\n  path: null\n')}overrides: null\n`,
    );
    const r = await loadRecipe(child);
    expect(r.model.kind).toBe('train');
    expect(r.overrides).toEqual([]);
  });

  it('matrix: unused keys, output placeholders, clashing folders, gate and --variant without a matrix are errors', async () => {
    const m = (extra: string, passes = '  - quantize: { bits: "${{ matrix.bits }}" }', output?: string) =>
      writeText(
        join(dir, `mm${Math.random().toString(36).slice(2)}.yaml`),
        tinyRecipe({ passes, extra, ...(output ? { output } : {}) }),
      );
    expect((await loadError(m('matrix:\n  bits: [8, 16]\n  seed: [1, 2]\n'))).message).toMatch(
      /`matrix\.seed` at .*:\d+:\d+ is not used anywhere in the recipe/,
    );
    expect(
      (await loadError(m('matrix:\n  bits: [8, 16]\n', undefined, '"./out/x-${{ matrix.bits }}"'))).message,
    ).toMatch(/`output` at .* uses the matrix; each variant is written to its own folder/);
    const clash = m('matrix:\n  v: ["a/b", "a_b"]\n', '  - quantize: { dtype: "${{ matrix.v }}" }');
    expect((await loadError(clash)).message).toMatch(
      /makes variants v=a\/b and v=a_b that share the output folder v-a_b/,
    );
    expect((await loadError(file, { variant: 'bits=8' })).message).toMatch(/has no `matrix`, so it has no variants/);
    const gate = writeText(join(dir, 'gate.yaml'), tinyRecipe({ extra: 'gate: best\n' }));
    expect((await loadError(gate)).message).toMatch(
      /`gate` at .* decides how a matrix's variants pass together, but the recipe has no `matrix`/,
    );
  });

  it('names the variant whose matrix value is bad, and takes --variant pairs in any order', async () => {
    const f = writeText(
      join(dir, 'mv.yaml'),
      tinyRecipe({
        passes: '  - prune: { sparsity: "${{ matrix.s }}" }\n  - quantize: { bits: "${{ matrix.b }}" }',
        extra: 'matrix:\n  s: [0.5, 1.5]\n  b: [8]\n',
      }),
    );
    expect((await loadError(f)).message).toMatch(
      /^in variant s=1\.5,b=8 \(values from `matrix` at .*mv\.yaml:\d+:\d+\): `passes\[0\]\.prune\.sparsity` must be < 1/,
    );
    const set = await loadRecipeSet(f, { variant: 'b=8, s=0.5' });
    expect(set.variants.map((v) => v.variant!.name)).toEqual(['s=0.5,b=8']);
  });

  it('checks every search candidate against the schema, at the candidate', async () => {
    const f = writeText(
      join(dir, 'cand.yaml'),
      tinyRecipe({ passes: '  - quantize: { dtype: auto, candidates: [int8, uint9] }' }),
    );
    expect((await loadError(f)).message).toMatch(/must be one of .* \(got "uint9"\) at .*cand\.yaml:15:49/);
    const g = writeText(
      join(dir, 'cand2.yaml'),
      tinyRecipe({ passes: '  - prune: { sparsity: auto, candidates: [0.5, 1.5] }' }),
    );
    expect((await loadError(g)).message).toMatch(/must be < 1 \(got 1\.5\) at .*cand2\.yaml:15:48/);
    const h = writeText(
      join(dir, 'cand3.yaml'),
      tinyRecipe({ passes: '  - quantize: { bits: auto, candidates: [8, "4"] }' }),
    );
    expect((await loadError(h)).message).toMatch(/got "4"\) at .*cand3\.yaml:15:45/);
  });
});

describe('significance thresholds', () => {
  it('needs maxDrop, and mcnemar only tests a zero margin', async () => {
    const f = (t: string) =>
      writeText(join(dir, `sig${Math.random().toString(36).slice(2)}.yaml`), tinyRecipe({ thresholds: t }));
    expect((await loadError(f('  accuracy: { min: 0.5, significance: { test: bootstrap } }'))).message).toMatch(
      /judges `maxDrop`, which is not set/,
    );
    expect((await loadError(f('  accuracy: { maxDrop: 0.01, significance: { test: mcnemar } }'))).message).toMatch(
      /uses mcnemar, which tests a drop of exactly 0, but maxDrop is 0\.01; use `test: bootstrap`/,
    );
    const ok = await loadRecipe(f('  accuracy: { maxDrop: 0.01, significance: { test: bootstrap, level: 0.9 } }'));
    expect(ok.thresholds.accuracy!.significance).toEqual({ test: 'bootstrap', level: 0.9 });
  });
});
