/**
 * The wasm backend at 1 thread vs every core (src/engine/wasm-threads.ts): a process starts the wasm module once,
 * so each figure comes from a child process started with its thread count, the children run one at a time in
 * A B B A order (drift on a shared machine hits both alike) and the speed-up is taken per round, its median and
 * range printed with the core count and load average.
 *
 *   a. evaluation: the converter-true MobileNetV2 α=1.0 at 224×224 through mcbuild's evaluator, images/s, as a
 *      layers model (batch norm, padding and ReLU6 as their own kernels) and as a graph model (fused by the
 *      converter), with the share of kernel time (tf.profile, one thread) in the kernels split over threads:
 *      convolutions, depthwise convolutions and pools (XNNPACK's pool), batch norm (mcbuild's kernel team). The
 *      rest runs on one thread whatever the pool (Amdahl).
 *   b. one 3×3 convolution, 8×56×56×64 → 64 channels, ms per call
 *   c. training on MNIST, batch 64, adam, through the training loop and mcbuild's wasm kernels, samples/s: lenet5,
 *      and the quick start's mobilenet-v1 α=0.25 (batch norm, ReLU6, depthwise convolutions)
 *
 * Runs alone with `npm run build && node dist/bench/wasm-threads.js [rounds]`; `npm run bench` runs it as section 11.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.js';
import { buildArchitecture } from '../src/engine/architectures/index.js';
import { loadEngine, loadForInference, type Tf } from '../src/engine/runtime.js';
import { trainModel } from '../src/engine/train.js';
import { measureOutputs } from '../src/metrics/accuracy.js';
import { readModelDir } from '../src/model/index.js';
import { mobilenetV2Graph, mobilenetV2Layers } from '../test/fixtures/models/index.js';
import { seededImages } from './mobilenet-v2.js';

interface Figures {
  threads: number;
  evalImagesPerSecond: number;
  graphImagesPerSecond: number;
  /** Share of kernel time in pooled kernels, layers and graph model; measured by the one-thread children. */
  pooledShare?: [number, number];
  convMs: number;
  trainSamplesPerSecond: number;
  mobilenetSamplesPerSecond: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median seconds of `runs` calls after one untimed call (weight upload, kernel set-up). */
async function seconds(run: () => Promise<unknown>, runs: number): Promise<number> {
  await run();
  const s: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run();
    s.push((performance.now() - t) / 1000);
  }
  return median(s);
}

/** What one child measures, with the pool it asked for. */
async function measure(requested: number): Promise<Figures> {
  const { tf, threads } = await loadEngine('wasm', requested);
  const images = seededImages(32, 19);
  const evalSeconds: number[] = [];
  const pooled: number[] = [];
  for (const fixture of [await mobilenetV2Layers(), await mobilenetV2Graph()]) {
    const model = await loadForInference(tf, (await readModelDir(fixture.modelJson)).model);
    evalSeconds.push(await seconds(() => measureOutputs(tf, model, images), 3));
    if (threads === 1) pooled.push(await pooledShare(tf, () => measureOutputs(tf, model, images)));
    model.dispose();
  }

  const x = tf.randomUniform<TF.Rank.R4>([8, 56, 56, 64], -1, 1, 'float32', 1);
  const w = tf.randomUniform<TF.Rank.R4>([3, 3, 64, 64], -1, 1, 'float32', 2);
  const convSeconds = await seconds(async () => {
    const y = tf.conv2d(x, w, 1, 'same');
    await y.data();
    y.dispose();
  }, 10);
  tf.dispose([x, w]);

  const batches = 12;
  const ds = await loadMnist('train', 64 * batches);
  const opts = { epochs: 1, batchSize: 64, learningRate: 0.001, optimizer: 'adam' as const, seed: 1 };
  const trainSeconds = async (name: string, options: Record<string, unknown>) =>
    seconds(async () => {
      const m = buildArchitecture(tf, name, options, { inputShape: ds.inputShape, numClasses: 10, seed: 1 });
      await trainModel(tf, m, ds, { ...opts, batchNormBatches: 0 });
      m.dispose();
    }, 2);
  const lenet = await trainSeconds('lenet5', {});
  const mobilenet = await trainSeconds('mobilenet-v1', { alpha: 0.25 });
  return {
    threads,
    evalImagesPerSecond: images.count / evalSeconds[0]!,
    graphImagesPerSecond: images.count / evalSeconds[1]!,
    ...(pooled.length === 2 ? { pooledShare: [pooled[0]!, pooled[1]!] as [number, number] } : {}),
    convMs: convSeconds * 1000,
    trainSamplesPerSecond: ds.count / lenet,
    mobilenetSamplesPerSecond: ds.count / mobilenet,
  };
}

/**
 * The kernels split over threads: those tfjs-backend-wasm runs through XNNPACK operators on its thread pool (our
 * reading of its 4.22 sources: its matMuls call XNNPACK without the pool, so they are not among them; an
 * elementwise kernel it may pool, such as ClipByValue, counts as single-threaded here: a lower bound), and
 * mcbuild's inference batch norm, split over the kernel team (src/engine/kernels/team).
 */
const POOLED = /^(Conv2D|FusedConv2D|DepthwiseConv2dNative|FusedDepthwiseConv2D|MaxPool|AvgPool|FusedBatchNorm)$/;

/** Share of kernel time in pooled kernels (op-level profile entries, named `…__op`, are left out: they nest). */
async function pooledShare(tf: Tf, run: () => Promise<unknown>): Promise<number> {
  const { kernels } = await tf.profile(async () => {
    await run();
  });
  let pooled = 0;
  let total = 0;
  for (const k of kernels) {
    if (k.name.endsWith('__op') || typeof k.kernelTimeMs !== 'number') continue;
    total += k.kernelTimeMs;
    if (POOLED.test(k.name)) pooled += k.kernelTimeMs;
  }
  return pooled / total;
}

function child(threads: number): Figures {
  const env = { ...process.env };
  delete env.MCBUILD_THREADS;
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(threads)], {
    env,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Figures;
}

export function benchWasmThreads(log: (line: string) => void, rounds = 4, many = availableParallelism()): void {
  const n = Math.max(2, Math.min(many, 8));
  log(`\n11. wasm at 1 thread vs ${n} (every core): one child process per figure, ${rounds} rounds in A B B A order`);
  const runs: [Figures[], Figures[]] = [[], []];
  const load: number[] = [];
  for (let r = 0; r < rounds; r++)
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      load.push(loadavg()[0]!);
      runs[i]!.push(child(i ? n : 1));
    }
  const [one, all] = runs;
  const line = (label: string, unit: string, pick: (f: Figures) => number, higherIsBetter: boolean) => {
    const ratios = one.map((a, r) => (higherIsBetter ? pick(all[r]!) / pick(a) : pick(a) / pick(all[r]!)));
    log(
      `   ${label.padEnd(34)} 1 thread ${median(one.map(pick)).toFixed(1).padStart(7)}   ${n} threads ${median(all.map(pick)).toFixed(1).padStart(7)} ${unit.padEnd(10)} speed-up ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    );
  };
  line('eval MobileNetV2 α=1.0 224, layers', 'images/s', (f) => f.evalImagesPerSecond, true);
  line('eval MobileNetV2 α=1.0 224, graph', 'images/s', (f) => f.graphImagesPerSecond, true);
  line('conv 3×3, 8×56×56×64 → 64', 'ms', (f) => f.convMs, false);
  line('train lenet5 MNIST, batch 64', 'samples/s', (f) => f.trainSamplesPerSecond, true);
  line('train mobilenet-v1 α=0.25, batch 64', 'samples/s', (f) => f.mobilenetSamplesPerSecond, true);
  const shares = one.flatMap((f) => (f.pooledShare ? [f.pooledShare] : []));
  const pct = (i: 0 | 1) => `${(100 * median(shares.map((s) => s[i]))).toFixed(0)}%`;
  if (shares.length)
    log(
      `   kernel time in kernels split over threads (conv, depthwise, pool, batch norm) at 1 thread: layers ${pct(0)}, graph ${pct(1)}; the rest runs on one thread`,
    );
  log(
    `   pools: ${[...new Set(all.map((f) => f.threads))].join(', ')} threads (asked ${n}); ${availableParallelism()} cores, load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} over the run`,
  );
}

if (process.argv[2] === '--child') process.stdout.write(JSON.stringify(await measure(Number(process.argv[3]))));
else if (import.meta.url === `file://${process.argv[1]}`)
  benchWasmThreads((l) => process.stdout.write(`${l}\n`), Number(process.argv[2] ?? 4));
