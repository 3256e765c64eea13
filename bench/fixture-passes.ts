/**
 * Every pass alone on every converter-true fixture (test/fixtures/models): the fixture × pass table issue 19's
 * closing note asks for. Each row is a real build (src/build/build.ts, as `mcbuild build` runs it) of a recipe
 * with that one pass, on 4 label-free seeded samples (4 more to train on for finetune and scheduled prune), then
 * the output folder loaded with stock TF.js (tf.loadLayersModel / tf.loadGraphModel; through mcbuild/runtime's
 * IOHandler when the weights are in a packed form) and one batch run through it. Columns: exit code (for 2 or 3,
 * the error's first line), weight bytes in → out, fidelity to the source model (worst output: cosine and
 * largest relative error everywhere, agreement and KL where an output is a distribution), whether the output
 * loads and runs, and what the pass changed or warned about. test/e2e/fixture-matrix.test.ts runs two pass
 * chains per fixture in CI; this runs each pass on its own, which is too long for CI (3 to 9 minutes on 2
 * cores, by load).
 *
 *   npm run build && node dist/bench/fixture-passes.js [table.md] [--only REGEX]
 *
 * writes the table to stdout (progress to stderr) and to table.md when given; `--only` keeps the rows whose
 * "fixture | pass" matches. `MCBUILD_BENCH_FIXTURE_PASSES=1 npm run bench` runs it as section 11.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEngine, type Tf } from '../src/engine/runtime.js';
import {
  buildFixture,
  fidelityCell,
  weightBytes,
  writeFixtureRecipe,
  type FixtureBuild,
} from '../test/fixtures/models/build-fixture.js';
import {
  batchnormGraph,
  detectorGraph,
  detectorGraphUint8,
  embeddingGraph,
  mobilenetV2Graph,
  mobilenetV2Keras3,
  mobilenetV2Layers,
  nestedLayers,
  nestedLayersKeras3,
  type ModelFixture,
} from '../test/fixtures/models/index.js';
import { loadOutput, runOneBatch } from '../test/fixtures/models/load.js';

/**
 * `firstConv`: the layer (graph: node) of the first convolution, which reads 3 channels: N:M 2:4 cannot group
 * them, so one row runs N:M with an override that skips it.
 */
export const FIXTURES: { name: string; make: () => Promise<ModelFixture>; firstConv: string }[] = [
  {
    name: 'mobilenet-v2 layers, Keras 2, uint8 stored',
    make: () => mobilenetV2Layers({ quantization: 'uint8' }),
    firstConv: 'Conv1',
  },
  { name: 'mobilenet-v2 layers, Keras 3', make: () => mobilenetV2Keras3(), firstConv: 'Conv1' },
  { name: 'nested layers, shared layer, 2 outputs', make: () => nestedLayers(), firstConv: 'enc_conv' },
  { name: 'nested layers, Keras 3 form', make: () => nestedLayersKeras3(), firstConv: 'enc_conv' },
  {
    name: 'mobilenet-v2 graph',
    make: () => mobilenetV2Graph(),
    firstConv: 'StatefulPartitionedCall/mobilenetv2_1.00_224/Conv1_relu/Relu6',
  },
  {
    name: 'detector graph, int32 input, loop, 4 outputs',
    make: () => detectorGraph(),
    firstConv: 'StatefulPartitionedCall/Relu6',
  },
  { name: 'detector graph, uint8 input', make: () => detectorGraphUint8(), firstConv: 'StatefulPartitionedCall/Relu6' },
  {
    name: 'embedding graph',
    make: () => embeddingGraph(),
    firstConv: 'StatefulPartitionedCall/embedder/conv1_bn/FusedBatchNormV3',
  },
  {
    name: 'graph with a FusedBatchNorm',
    make: () => batchnormGraph(),
    firstConv: 'StatefulPartitionedCall/embedder/conv1_bn/FusedBatchNormV3',
  },
];

/** Samples finetune and scheduled prune train on, 2 per step: a smoke run of the label-free teacher, not a recovery. */
const TRAIN = 4;

export const PASSES: { label: string; passes: string[]; train?: boolean; skipFirstConv?: boolean }[] = [
  { label: 'quantize int8 per-channel', passes: ['quantize: { dtype: int8, granularity: per-channel }'] },
  { label: 'quantize float16', passes: ['quantize: { dtype: float16 }'] },
  { label: 'prune 50%', passes: ['prune: { sparsity: 0.5 }'] },
  { label: 'prune N:M 2:4', passes: ['prune: { pattern: "2:4" }'] },
  { label: 'prune N:M 2:4, first conv skipped', passes: ['prune: { pattern: "2:4" }'], skipFirstConv: true },
  { label: 'cluster 16', passes: ['cluster: { clusters: 16 }'] },
  { label: 'lowrank ratio 0.5', passes: ['lowrank: { ratio: 0.5 }'] },
  { label: 'fold-batchnorm', passes: ['fold-batchnorm: {}'] },
  { label: 'prune-channels 25%', passes: ['prune-channels: { sparsity: 0.25 }'] },
  // encode codes a small alphabet: alone on float32 weights it has nothing to code and fails as empty.
  {
    label: 'encode (after cluster 16: it needs a small alphabet)',
    passes: ['cluster: { clusters: 16 }', 'encode: {}'],
  },
  { label: 'shard 1MB', passes: ['shard: { shardBytes: 1MB }'] },
  {
    label: `finetune label-free (teacher: baseline, 1 epoch, ${TRAIN} samples)`,
    passes: ['finetune: { epochs: 1, batchSize: 2, learningRate: 0.0001, teacher: baseline }'],
    train: true,
  },
  {
    label: `scheduled prune 50% label-free (2 steps, ${TRAIN} samples)`,
    passes: ['prune: { sparsity: 0.5, schedule: { steps: 2, frequency: 1 }, batchSize: 2 }'],
    train: true,
  },
];

export const TABLE_HEADER = [
  '| fixture | pass | exit | weight bytes in → out | fidelity to the source (worst output) | loads in stock TF.js, 1 batch | notes |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];

/** A table cell: one line, no pipes. */
const cell = (s: string) => s.split('\n')[0]!.replace(/\|/g, '\\|').trim();
const count = (n: number) => n.toLocaleString('en-US');
/**
 * Up to the end of the first sentence (a full stop before a space; "0.5" is not one): the reason, not the fix;
 * at most 240 characters.
 */
const firstSentence = (s: string) => {
  const first = /^.*?\.(?=\s)/.exec(s)?.[0] ?? s;
  return first.length > 240 ? `${first.slice(0, 239)}…` : first;
};

/** Loads the output as a user would and runs one batch: "yes", "yes, via mcbuild/runtime" or "no: why". */
async function loads(tf: Tf, out: string, f: ModelFixture): Promise<string> {
  if (!existsSync(join(out, 'model.json'))) return 'no output';
  try {
    const { model, via } = await loadOutput(tf, out, f.format);
    try {
      await runOneBatch(tf, model, f);
    } finally {
      model.dispose();
    }
    return via === 'stock' ? 'yes' : 'yes, via mcbuild/runtime';
  } catch (e) {
    return `no: ${cell(e instanceof Error ? e.message : String(e))}`;
  }
}

/** What the last pass changed and what the build warned about. */
function notes(r: Extract<FixtureBuild, { report: unknown }>, short: (message: string) => string): string {
  const last = r.report.passes.at(-1)?.changed as { tensors: number; params: number } | undefined;
  const changed = last ? [`changed ${last.tensors} tensors, ${count(last.params)} values`] : [];
  const warnings = (r.report.warnings ?? []).map((w) => `warning: ${firstSentence(short(w))}`);
  return [...changed, ...warnings].join('; ');
}

async function row(
  tf: Tf,
  work: string,
  fixture: (typeof FIXTURES)[number],
  f: ModelFixture,
  p: (typeof PASSES)[number],
  n: number,
) {
  const name = fixture.name;
  const dir = join(work, `${n}`);
  mkdirSync(dir, { recursive: true });
  const file = writeFixtureRecipe(dir, f, {
    name: 'pass',
    passes: p.passes,
    output: './out',
    ...(p.train ? { trainSamples: TRAIN } : {}),
    ...(p.skipFirstConv ? { overrides: [`{ layers: [${JSON.stringify(fixture.firstConv)}], prune: skip }`] } : {}),
  });
  let r: FixtureBuild;
  try {
    r = await buildFixture(file, join(work, 'cache'));
  } catch (e) {
    // A bug, not bad input: the CLI prints the stack and exits 3. The table records it and goes on.
    r = { code: 3, error: e instanceof Error ? e.message : String(e) };
  }
  // Messages name the recipe by its full path: the table keeps the file name (`pass.yaml:7:23`).
  const short = (message: string) => cell(message.replaceAll(`${dir}/`, ''));
  if ('error' in r)
    return `| ${name} | ${p.label} | ${r.code}: ${firstSentence(short(r.error))} | ${count(f.weightBytes)} → — | — | — | |`;
  const bytes = weightBytes(r.report);
  const ratio = (bytes.output / bytes.source).toFixed(2);
  const fidelity = r.report.metrics.result.fidelity;
  return `| ${name} | ${p.label} | ${r.code} | ${count(bytes.source)} → ${count(bytes.output)} (${ratio}x) | ${fidelity ? fidelityCell(fidelity) : '—'} | ${await loads(tf, r.out, f)} | ${notes(r, short)} |`;
}

/** Builds every fixture × pass row (those matching `only`) and returns the table's lines. */
export async function fixturePassTable(progress: (line: string) => void, only?: RegExp): Promise<string[]> {
  const { tf } = await loadEngine('wasm');
  const work = join(tmpdir(), `mcbuild-fixture-passes-${process.pid}`);
  const lines = [...TABLE_HEADER];
  try {
    let n = 0;
    for (const fixture of FIXTURES) {
      const todo = PASSES.filter((p) => !only || only.test(`${fixture.name} | ${p.label}`));
      if (!todo.length) continue;
      const f = await fixture.make();
      for (const p of todo) {
        const started = performance.now();
        const line = await row(tf, work, fixture, f, p, n++);
        progress(`${line}   (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        lines.push(line);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return lines;
}

/** `npm run bench`'s section: the table on the log, progress on stderr. */
export async function benchFixturePasses(log: (line: string) => void): Promise<void> {
  log('\n12. every pass alone on every converter-true fixture (real builds on wasm, label-free data)');
  const started = performance.now();
  const lines = await fixturePassTable((l) => process.stderr.write(`${l}\n`));
  for (const l of lines) log(l);
  log(`   (${((performance.now() - started) / 60_000).toFixed(1)} min)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--only');
  const only = at >= 0 ? new RegExp(args.splice(at, 2)[1] ?? '') : undefined;
  const started = performance.now();
  const lines = await fixturePassTable((l) => process.stderr.write(`${l}\n`), only);
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  process.stderr.write(`${lines.length - 2} builds in ${minutes} min\n`);
  if (args[0]) writeFileSync(args[0], text);
}
