/**
 * Hostile and broken inputs (issue 9 item 6), through the real CLI with a 256 MB heap: each must end in exit
 * 2 with one paragraph naming the file and place, no stack, nothing written outside the project's output and
 * cache folders (a sentinel folder beside the project and the project's own files are compared before and
 * after), and bounded memory: each child's peak RSS is measured (process.resourceUsage at exit, Buffers
 * included) and must stay under MAX_RSS_MB, and the heap limit turns any attempt to allocate what a hostile
 * file claims into a crash. The log's last line gives the figures: inputs tried, unsafe outcomes, peak RSS.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const project = tempDir('mcbuild-hostile-');
writeText(join(project, 'package.json'), '{}\n');
const cacheDir = join(project, 'cache');
const sentinel = tempDir('mcbuild-hostile-sentinel-');
writeText(join(sentinel, 'keep.txt'), 'keep');
// Peak resident memory of each run, written by the child at exit (maxRSS counts Buffers too, which the heap
// limit does not): bounded memory is measured, not assumed.
const rssProbe = writeText(
  join(sentinel, '..', `${sentinel.split('/').pop()}-rss.cjs`),
  "process.on('exit', () => require('node:fs').writeFileSync(process.env.MCB_RSS_FILE, String(process.resourceUsage().maxRSS)));\n",
);
const rssFile = join(`${sentinel}-rss.txt`);
const HEAP = { NODE_OPTIONS: `--max-old-space-size=256 --require ${rssProbe}`, MCB_RSS_FILE: rssFile };
/** Peak RSS allowed for one hostile run: TF.js (wasm) and a tiny model fit well within it. */
const MAX_RSS_MB = 400;
let peakMb = 0;

let tried = 0;
const unsafe: string[] = [];

/** Every file outside the cache and the build outputs (out*, *-out): what a failed run must leave alone. */
const snapshot = () =>
  listFiles(project)
    .filter((f) => !f.startsWith(cacheDir) && !/\/[^/]*-out\//.test(f.slice(project.length)))
    .map((f) => `${f}:${statSync(f).size}`)
    .sort();

/** Runs one hostile input and checks everything the issue asks of it. */
async function hostile(label: string, args: string[], code: string, ...patterns: RegExp[]): Promise<CliRun> {
  tried++;
  const before = snapshot();
  rmSync(rssFile, { force: true });
  const r = await runCli([...args, '--cache-dir', cacheDir], { cwd: project, env: HEAP });
  const problems: string[] = [];
  if (r.code !== 2) problems.push(`exit ${r.code}`);
  if (stackLines(r.all).length) problems.push('stack trace');
  if (!new RegExp(`^mcbuild: error ${code}: `, 'm').test(r.stderr)) problems.push(`no ${code} message`);
  for (const p of patterns) if (!p.test(r.stderr)) problems.push(`message lacks ${p}`);
  // A child killed by the OOM handler never writes it: NaN fails the check below.
  const rssMb = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) / 1024 : Number.NaN;
  peakMb = Math.max(peakMb, rssMb);
  if (!(rssMb < MAX_RSS_MB)) problems.push(`peak RSS ${rssMb.toFixed(0)} MB`);
  const after = snapshot();
  if (after.join('\n') !== before.join('\n'))
    problems.push(`files changed: ${after.filter((f) => !before.includes(f)).join(', ')}`);
  if (listFiles(sentinel).join() !== join(sentinel, 'keep.txt')) problems.push('wrote beside the project');
  if (problems.length) unsafe.push(`${label}: ${problems.join('; ')}`);
  expect(problems, `${label}\n${r.all}`).toEqual([]);
  return r;
}

let base: string;
let shards: string[];
beforeAll(async () => {
  // A real float32 model in three shards, to damage copies of.
  writeText(
    join(project, 'base.yaml'),
    tinyRecipe({ passes: '  - shard: { shardBytes: 40000 }', output: './base-out' }),
  );
  const r = await runCli(['base.yaml', '--cache-dir', cacheDir], { cwd: project });
  expect(r.code, r.all).toBe(0);
  base = join(project, 'base-out');
  shards = (JSON.parse(readFileSync(join(base, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] })
    .weightsManifest[0]!.paths;
  expect(shards.length).toBe(3);
}, 120_000);

afterAll(() => {
  console.log(
    `hostile inputs: ${tried} tried, ${unsafe.length} unsafe outcomes, peak RSS ${peakMb.toFixed(0)} MB${unsafe.length ? `: ${unsafe.join(' | ')}` : ''}`,
  );
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- model.json as parsed, edited in place into broken shapes
type ModelJson = Record<string, any>;

/** A copy of the base model, changed by `edit` (model.json as an object, and the folder for the shards). */
function damaged(name: string, edit: (json: ModelJson, dir: string) => void): string {
  const dir = join(project, 'models', name);
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.json', ...shards]) writeFileSync(join(dir, f), readFileSync(join(base, f)));
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as ModelJson;
  edit(json, dir);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return writeText(
    join(project, `${name}.yaml`),
    tinyRecipe({
      model: `  path: ./models/${name}/model.json`,
      output: `./${name}-out`,
      passes: '  - quantize: { dtype: float16 }',
    }),
  );
}

const weights = (json: ModelJson) =>
  json.weightsManifest[0].weights as { name: string; shape: number[]; dtype: string }[];

describe('hostile model files', () => {
  for (const [label, path] of [
    ['a shard path with ..', '../../../etc/passwd'],
    ['an absolute shard path', '/etc/passwd'],
    ['an https URL as shard path', 'https://example.com/group1-shard1of3.bin'],
    ['a file: URL as shard path', 'file:///etc/passwd'],
    ['a shard path that climbs back in', 'sub/../../hostile-base/x.bin'],
  ] as const) {
    it(label, async () => {
      const f = damaged(label.replace(/\W+/g, '-'), (json) => (json.weightsManifest[0].paths[0] = path));
      await hostile(
        label,
        [f],
        'MCB_MODEL_INVALID',
        /model\.json: weight shard path .* points outside the model's folder/,
        /model\.path` is set at .*\.yaml:4:9/,
      );
    });
  }

  it('a shard shorter than the manifest says', async () => {
    const f = damaged('short', (_, dir) => truncateSync(join(dir, shards[1]!), 1000));
    await hostile(
      'short shard',
      [f],
      'MCB_MODEL_INVALID',
      new RegExp(`${shards[1]!.replace('.', '\\.')} \\(1000 bytes\\)`),
      /need \d+ \(\d+ bytes short: a shard is truncated\)/,
    );
  });

  it('a shard longer than the manifest says', async () => {
    const f = damaged('long', (_, dir) =>
      writeFileSync(join(dir, shards[2]!), Buffer.concat([readFileSync(join(dir, shards[2]!)), Buffer.alloc(12)])),
    );
    await hostile('long shard', [f], 'MCB_MODEL_INVALID', /12 bytes too many/);
  });

  // Each of these used to load (a repeated shard: silently wrong weights) or crash inside TF.js (exit 3).
  for (const [label, edit, message] of [
    [
      'a shard listed twice (same size as the one it replaces)',
      (json: ModelJson) => (json.weightsManifest[0].paths[1] = json.weightsManifest[0].paths[0]),
      /weight shard "group1-shard1of3\.bin" is listed twice in weightsManifest/,
    ],
    [
      'a weight name listed twice',
      (json: ModelJson) => (weights(json)[1]!.name = weights(json)[0]!.name),
      /weight fc_1\/kernel is listed twice in weightsManifest/,
    ],
    [
      'a complex64 weight of the right byte size',
      (json: ModelJson) => Object.assign(weights(json)[3]!, { dtype: 'complex64', shape: [5] }),
      /weight predictions\/bias has dtype complex64, which mcbuild cannot read/,
    ],
    [
      'an int32 weight in a layers model',
      (json: ModelJson) => (weights(json)[3]!.dtype = 'int32'),
      /weight predictions\/bias of this layers model has dtype int32; layer weights are float32/,
    ],
  ] as const) {
    it(label, async () => {
      const f = damaged(label.replace(/\W+/g, '-'), edit);
      await hostile(label, [f], 'MCB_MODEL_INVALID', message);
    });
  }

  it('an 8 GB (sparse) shard is refused before it is read', async () => {
    const f = damaged('huge-shard', (_, dir) => truncateSync(join(dir, shards[0]!), 8 * 1024 ** 3));
    await hostile('8 GB shard', [f], 'MCB_MODEL_INVALID', /8589934592 bytes/);
  });

  for (const [label, shape, message] of [
    [
      'a shape whose product overflows',
      [1e6, 1e6, 1e6],
      /has shape \[1000000,1000000,1000000\], 1000000000000000000 elements \(at most 2147483647/,
    ],
    ['a negative dimension', [-1, 32], /every dimension must be a non-negative integer/],
    ['a fractional dimension', [2.5, 32], /every dimension must be a non-negative integer/],
    ['a dimension that is a string', ['784', 32], /every dimension must be a non-negative integer/],
    ['a shape claiming more bytes than the shards hold', [784, 3200], /bytes short/],
  ] as const) {
    it(label, async () => {
      const f = damaged(label.replace(/\W+/g, '-'), (json) => (weights(json)[0]!.shape = shape as unknown as number[]));
      await hostile(label, [f], 'MCB_MODEL_INVALID', message);
    });
  }

  it('a model.json over the size limit (sparse, 65 MB) is not read', async () => {
    const dir = join(project, 'models', 'huge-json');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), '{');
    truncateSync(join(dir, 'model.json'), 65 * 1024 * 1024);
    const f = writeText(
      join(project, 'huge-json.yaml'),
      tinyRecipe({ model: '  path: ./models/huge-json/model.json', output: './huge-json-out' }),
    );
    await hostile(
      '65 MB model.json',
      [f],
      'MCB_MODEL_INVALID',
      /model\.json is 68157440 bytes; a model\.json may be at most/,
    );
  });

  it('model.path naming a device that never ends (/dev/zero)', async () => {
    const f = writeText(
      join(project, 'dev-zero.yaml'),
      tinyRecipe({ model: '  path: /dev/zero', output: './dev-zero-out' }),
    );
    await hostile('model.path /dev/zero', [f], 'MCB_MODEL_INVALID', /model path \/dev\/zero is not a regular file/);
  });

  it('a deeply nested model.json', async () => {
    const f = damaged('deep-json', () => undefined);
    writeFileSync(
      join(project, 'models', 'deep-json', 'model.json'),
      `{"modelTopology": ${'['.repeat(200_000)}${']'.repeat(200_000)}, "weightsManifest": []}`,
    );
    await hostile('deep model.json', [f], 'MCB_MODEL_INVALID', /nests its JSON more than 128 levels deep/);
  });

  for (const [label, value] of [
    ['a NaN weight', Number.NaN],
    ['an infinite weight', Number.POSITIVE_INFINITY],
  ] as const) {
    it(`${label} fails by default, naming the weight`, async () => {
      const f = damaged(label.replace(/\W+/g, '-'), (_, dir) => {
        const bytes = readFileSync(join(dir, shards[0]!));
        new DataView(bytes.buffer, bytes.byteOffset).setFloat32(40, value, true);
        writeFileSync(join(dir, shards[0]!), bytes);
      });
      await hostile(
        label,
        [f],
        'MCB_MODEL_INVALID',
        /has NaN or infinite weights: fc_1\/kernel \(1 value\)/,
        /model\.nonFinite: warn/,
      );
    });
  }

  it('a layer name TF.js cannot load (with *)', async () => {
    const f = damaged('star-name', (json) => (json.modelTopology.config.layers[1].config.name = 'fc*1'));
    await hostile('layer name with *', [f], 'MCB_MODEL_INVALID', /layer 1 is named "fc\*1", which TF\.js cannot load/);
  });

  it('an unknown layer class', async () => {
    const f = damaged('unknown-class', (json) => (json.modelTopology.config.layers[1].class_name = 'MyCustomDense'));
    await hostile(
      'unknown layer class',
      [f],
      'MCB_MODEL_INVALID',
      /layer "fc_1" has class "MyCustomDense", which TF\.js does not know/,
    );
  }, 60_000);
});

describe('graph models and passes', () => {
  const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
  const constNode = (name: string, dtype: string, shape: number[]) => ({
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
  });
  function graphModel(name: string, lastOp: string): string {
    const dir = join(project, 'models', name);
    const node = [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 28, 28, 1]) } } },
      constNode('flat_shape', 'DT_INT32', [2]),
      {
        name: 'flat',
        op: 'Reshape',
        input: ['x', 'flat_shape'],
        attr: { T: { type: 'DT_FLOAT' }, Tshape: { type: 'DT_INT32' } },
      },
      constNode('dense/kernel', 'DT_FLOAT', [784, 10]),
      {
        name: 'dense/MatMul',
        op: 'MatMul',
        input: ['flat', 'dense/kernel'],
        attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
      },
      { name: 'probs', op: lastOp, input: ['dense/MatMul'], attr: { T: { type: 'DT_FLOAT' } } },
    ];
    const manifest = [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'flat_shape', shape: [2], dtype: 'int32' },
          { name: 'dense/kernel', shape: [784, 10], dtype: 'float32' },
        ],
      },
    ];
    writeText(
      join(dir, 'model.json'),
      JSON.stringify({
        format: 'graph-model',
        modelTopology: { node, library: {}, versions: { producer: 1 } },
        weightsManifest: manifest,
      }),
    );
    writeFileSync(
      join(dir, 'weights.bin'),
      Buffer.concat([Buffer.from(new Int32Array([-1, 784]).buffer), Buffer.alloc(784 * 10 * 4)]),
    );
    return `./models/${name}/model.json`;
  }

  it('a graph model with an op TF.js cannot run', async () => {
    const f = writeText(
      join(project, 'graph-op.yaml'),
      tinyRecipe({
        model: `  path: ${graphModel('graph-op', 'FancySoftmax')}`,
        output: './graph-op-out',
        passes: '  - quantize: { dtype: float16 }',
      }),
    );
    await hostile(
      'graph model with an unknown op',
      [f],
      'MCB_MODEL_INVALID',
      /the graph model uses the op "FancySoftmax", which TF\.js cannot run/,
    );
  }, 60_000);

  for (const pass of ['finetune: { epochs: 1 }', 'prune-channels: { sparsity: 0.5 }']) {
    it(`a graph model given to ${pass.split(':')[0]}, which needs a layers model`, async () => {
      const name = `graph-${pass.split(':')[0]}`;
      const text = tinyRecipe({
        model: `  path: ${graphModel(name, 'Softmax')}`,
        output: `./${name}-out`,
        passes: `  - ${pass}`,
      }).replace('\ndata:\n', '\ndata:\n  train: { dataset: mnist, split: train, limit: 200 }\n');
      const f = writeText(join(project, `${name}.yaml`), text);
      await hostile(`graph model + ${pass}`, [f], 'MCB_(MODEL_INVALID|RECIPE_INVALID)', /layers model|graph model/);
    }, 60_000);
  }
});

describe('hostile recipes', () => {
  const recipe = (name: string, text: string) => writeText(join(project, `${name}.yaml`), text);

  it('a YAML alias bomb', async () => {
    const bomb = [
      'a0: &a0 [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `a${i + 1}: &a${i + 1} [*a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}]`,
      ),
    ].join('\n');
    await hostile(
      'alias bomb',
      [recipe('bomb', `${tinyRecipe()}\n${bomb}\n`)],
      'MCB_RECIPE_YAML',
      /bomb\.yaml:1:1: YAML error: .*at most 100 alias expansions/,
    );
  });

  it('brackets nested 100,000 deep', async () => {
    await hostile(
      'deep flow nesting',
      [recipe('deep-flow', `${tinyRecipe()}\ndeep: ${'['.repeat(100_000)}\n`)],
      'MCB_RECIPE_YAML',
      /deep-flow\.yaml:\d+:1: YAML error: brackets nested more than 64 deep/,
    );
  });

  it('maps nested 40 deep', async () => {
    const nested = Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n');
    await hostile(
      'deep block nesting',
      [recipe('deep-block', `${tinyRecipe()}\n${nested} 1\n`)],
      'MCB_RECIPE_INVALID',
      /deep-block\.yaml:\d+:\d+: the recipe is nested more than 32 levels deep/,
    );
  });

  it('a 100,000-character string', async () => {
    await hostile(
      'huge string',
      [recipe('huge-string', tinyRecipe({ extra: `description: ${'x'.repeat(100_000)}` }))],
      'MCB_RECIPE_INVALID',
      /huge-string\.yaml:\d+:\d+: `description` is a string of 100000 characters; recipe values may be at most 65536/,
    );
  });

  it('a recipe over 1 MB', async () => {
    await hostile(
      '2 MB recipe',
      [recipe('huge-recipe', `${tinyRecipe()}\n# ${'x'.repeat(2 * 1024 * 1024)}\n`)],
      'MCB_RECIPE_INVALID',
      /huge-recipe\.yaml is \d+ bytes; a recipe may be at most 1048576 bytes/,
    );
  });

  it('a recipe that is a device (/dev/zero)', async () => {
    await hostile('recipe /dev/zero', ['/dev/zero'], 'MCB_RECIPE_NOT_FOUND', /\/dev\/zero is not a regular file/);
  });

  it('a duplicate key', async () => {
    await hostile(
      'duplicate key',
      [recipe('dup', `${tinyRecipe()}\nname: again\n`)],
      'MCB_RECIPE_YAML',
      /dup\.yaml:\d+:\d+: YAML error: a key appears twice/,
    );
  });

  it('wrong types everywhere', async () => {
    const text =
      'version: one\nname: 5\nmodel: [a]\ndata: { eval: 7 }\npasses: { quantize: 1 }\nthresholds: []\noutput: 3\n';
    await hostile(
      'wrong types',
      [recipe('types', text)],
      'MCB_RECIPE_INVALID',
      /types\.yaml has \d+ problems/,
      /`name` must be a string/,
      /`passes` must be an array/,
    );
  });

  it('a __proto__ key', async () => {
    await hostile(
      '__proto__ key',
      [recipe('proto', `${tinyRecipe()}\n__proto__: { polluted: true }\n`)],
      'MCB_RECIPE_INVALID',
      /unknown key `__proto__`/,
    );
  });

  it('a name that climbs out of out/', async () => {
    await hostile(
      'name with ../',
      [recipe('name', tinyRecipe().replace('name: tiny', 'name: ../../etc').replace('output: ./out\n', ''))],
      'MCB_RECIPE_INVALID',
      /`name` must match/,
    );
  });

  for (const [label, output] of [
    ['output: /etc', '/etc'],
    ['output: ../../x', '../../x'],
    ['output: the project root', '.'],
    ['output: the sentinel folder', sentinel],
  ] as const) {
    it(`${label} is refused`, async () => {
      const f = recipe(`out-${label.replace(/\W+/g, '-')}`, tinyRecipe({ output }));
      await hostile(
        label,
        [f],
        'MCB_OUTPUT',
        /`output` at .*\.yaml:\d+:\d+ (is outside the project root|is the project root itself).*--allow-outside/,
      );
    });
  }

  it('--set output=/etc is refused, pointing at the command line', async () => {
    await hostile(
      '--set output',
      [recipe('set-out', tinyRecipe()), '--set', 'output=/etc'],
      'MCB_OUTPUT',
      /--set output=\/etc/,
      /--allow-outside/,
    );
  });

  it('--out outside the project is refused', async () => {
    await hostile(
      '--out',
      [recipe('out-flag', tinyRecipe()), '--out', join(sentinel, 'x')],
      'MCB_OUTPUT',
      /--out .* is outside the project root/,
    );
  });

  it('an output inside the cache (where `cache gc` sweeps it away), or holding the cache, is refused', async () => {
    await hostile(
      '--out in the cache',
      [recipe('out-cache', tinyRecipe()), '--out', join(cacheDir, 'tmp')],
      'MCB_OUTPUT',
      /the output folder \S+\/cache\/tmp is inside the cache folder/,
      /another --cache-dir/,
    );
    await hostile(
      'output: ./cache',
      [recipe('out-is-cache', tinyRecipe({ output: './cache' }))],
      'MCB_OUTPUT',
      /the output folder \S+\/cache is inside the cache folder/,
    );
  });

  it('an output through a symbolic link in the project that leads outside it is refused', async () => {
    const link = join(project, 'escape-link');
    if (!existsSync(link)) symlinkSync(sentinel, link);
    await hostile(
      '--out through a symlink',
      [recipe('out-link', tinyRecipe()), '--out', join(link, 'x')],
      'MCB_OUTPUT',
      /--out \S+escape-link\/x leads outside the project root through a symbolic link: .* is really \S+\/x/,
      /--allow-outside/,
    );
    await hostile(
      'output: through a symlink',
      [recipe('out-link-recipe', tinyRecipe({ output: './escape-link/y' }))],
      'MCB_OUTPUT',
      /`output` at \S+\.yaml:\d+:\d+ leads outside the project root through a symbolic link/,
    );
  });

  it('--reporter junit= outside the project is refused', async () => {
    await hostile(
      '--reporter',
      [recipe('junit', tinyRecipe()), '--reporter', `junit=${join(sentinel, 'j.xml')}`],
      'MCB_OUTPUT',
      /--reporter junit=.* is outside the project root/,
    );
  });

  it('validate and plan refuse an output outside the project too', async () => {
    const f = recipe('out-plan', tinyRecipe({ output: '/etc' }));
    await hostile('plan output: /etc', ['plan', f], 'MCB_OUTPUT', /is outside the project root/);
    await hostile('validate output: /etc', ['validate', f], 'MCB_OUTPUT', /is outside the project root/);
  });
});

describe('what stays allowed', () => {
  it('--allow-outside writes where it is told; reading a model from outside the project is fine', async () => {
    const elsewhere = tempDir('mcbuild-hostile-elsewhere-');
    const f = writeText(
      join(project, 'allowed.yaml'),
      tinyRecipe({
        model: `  path: ${join(base, 'model.json')}`,
        output: join(elsewhere, 'out'),
        passes: '  - quantize: { dtype: float16 }',
      }),
    );
    const refused = await runCli([f, '--cache-dir', cacheDir], { cwd: project });
    expect(refused.code, refused.all).toBe(2);
    const r = await runCli([f, '--cache-dir', cacheDir, '--allow-outside'], { cwd: project });
    expect(r.code, r.all).toBe(0);
    expect(listFiles(join(elsewhere, 'out')).some((p) => p.endsWith('model.json'))).toBe(true);
  }, 60_000);

  it('model.nonFinite: warn builds a model with a NaN weight, with a warning', async () => {
    const dir = join(project, 'models', 'nan-warn');
    mkdirSync(dir, { recursive: true });
    for (const s of ['model.json', ...shards]) writeFileSync(join(dir, s), readFileSync(join(base, s)));
    const bytes = readFileSync(join(dir, shards[0]!));
    new DataView(bytes.buffer, bytes.byteOffset).setFloat32(40, Number.NaN, true);
    writeFileSync(join(dir, shards[0]!), bytes);
    const f = writeText(
      join(project, 'nan-warn.yaml'),
      tinyRecipe({
        model: '  path: ./models/nan-warn/model.json\n  nonFinite: warn',
        output: './nan-warn-out',
        passes: '  - quantize: { dtype: float16 }',
      }),
    );
    const r = await runCli([f, '--cache-dir', cacheDir], { cwd: project });
    expect([0, 1]).toContain(r.code);
    expect(r.stderr).toMatch(
      /mcbuild: warning: .*nan-warn\/model\.json has NaN or infinite weights: fc_1\/kernel \(1 value\) \(model\.nonFinite: warn\)/,
    );
    expect(stackLines(r.all)).toEqual([]);
  }, 60_000);
});
