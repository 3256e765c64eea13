/**
 * `npm run bench`: throughput figures measured side by side in one process, printed as ratios so they hold
 * on a shared, noisy machine. Absolute numbers are for orientation only.
 *
 *   1. training samples/s of lenet5 on MNIST: wasm with mcbuild's gradient kernels vs the plain cpu backend
 *   2. eval images/s: mcbuild's evaluator vs a bare model.predict loop (same model, backend, batches)
 *   3. MobileNet inference ms/batch on wasm (and on tensorflow when tfjs-node is installed)
 *   4. weight passes without TF.js, MB/s of fp32 weights on a synthetic 25M-parameter model
 *   5. lowrank's SVD on a 1024×1024 matrix: ml-matrix's full SVD vs the Gram route vs a randomized SVD
 *   6. fold-batchnorm: MobileNet v1 inference latency before/after folding, batch 1 and 32 (wasm)
 *   7. prune-channels: MobileNet v1 inference latency before/after removing 50% of channels, batch 1 and 32 (wasm)
 *   8. scale-out: a 12-variant sweep built cold by one process vs a coordinator with 2 workers (wall time, variants
 *      per CPU-second), and all-hit rebuilds from the remote cache vs the local cache (real redis-server + nginx)
 *   9. image data at 224×224: decoding + preprocessing JPEG/PNG vs evaluating MobileNetV2 α=1.0 (wasm), and a
 *      slice read back from the cache
 *  10. the converter-true MobileNetV2 α=1.0 at 224×224, layers and graph: mcbuild's evaluator vs a bare loop, and
 *      the weight passes' MB/s on its fp32 weights (./mobilenet-v2.ts)
 *  11. wasm at 1 thread vs every core: MobileNetV2 α=1.0 evaluation, a 3×3 conv and lenet5 training, one child
 *      process per figure in A B B A order (./wasm-threads.ts)
 *  12. only with MCBUILD_BENCH_FIXTURE_PASSES=1 (3 to 9 minutes of real builds): every pass alone on every
 *      converter-true fixture, as a markdown table (./fixture-passes.ts)
 *  13. whole builds as users run them: a 12-variant sweep one step at a time vs side by side (child processes
 *      sharing the cores), the cold quick start, and cached --version / plan / rebuild (./whole-builds.ts)
 *
 * Sections 2–10 run wasm on every core (MCBUILD_THREADS=1 for one thread).
 */
import { loadMnist } from '../src/data/mnist.js';
import { installedNativePackage } from '../src/engine/backend.js';
import { buildArchitecture } from '../src/engine/architectures/index.js';
import { inputBatch } from '../src/engine/batches.js';
import { layersInference, loadEngine, type Engine } from '../src/engine/runtime.js';
import { trainModel } from '../src/engine/train.js';
import { isCancelled } from '../src/errors.js';
import { measureAccuracy } from '../src/metrics/accuracy.js';
import type { Backend } from '../src/recipe/index.js';
import { benchDataDecode } from './data-decode.js';
import { benchDistributed } from './distributed.js';
import { benchFixturePasses } from './fixture-passes.js';
import { benchFoldBatchnorm } from './fold-batchnorm.js';
import { benchMobilenetV2 } from './mobilenet-v2.js';
import { benchPruneChannels } from './prune-channels.js';
import { benchSvd } from './svd.js';
import { benchWasmThreads } from './wasm-threads.js';
import { benchWholeBuilds } from './whole-builds.js';
import { benchWeightPasses } from './weight-passes.js';

const log = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function trainingThroughput(backend: Backend, batches: number, maxSeconds: number): Promise<number> {
  const { tf } = await loadEngine(backend);
  const ds = await loadMnist('train', 64 * batches);
  const build = () => buildArchitecture(tf, 'lenet5', {}, { inputShape: ds.inputShape, numClasses: 10, seed: 1 });
  const opts = { epochs: 1, batchSize: 64, learningRate: 0.001, optimizer: 'adam' as const, seed: 1 };
  // One untimed batch pays for kernel set-up and compilation.
  const warm = build();
  await trainModel(tf, warm, ds, { ...opts, maxBatches: 1 });
  warm.dispose();
  const model = build();
  const controller = new AbortController();
  let done = 0;
  const started = performance.now();
  await trainModel(tf, model, ds, {
    ...opts,
    signal: controller.signal,
    onProgress: (p) => {
      done = p.batch;
      // The cpu backend takes minutes for a full run; a time-boxed sample gives the same rate.
      if (done >= 3 && (performance.now() - started) / 1000 > maxSeconds) controller.abort();
    },
  }).catch((e: unknown) => {
    if (!isCancelled(e)) throw e;
  });
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  return (done * 64) / seconds;
}

async function evalOverhead(engine: Engine, rounds: number): Promise<{ ours: number; bare: number }> {
  const { tf } = engine;
  const ds = await loadMnist('test');
  const model = buildArchitecture(
    tf,
    'mobilenet-v1',
    { alpha: 0.5 },
    { inputShape: ds.inputShape, numClasses: 10, seed: 1 },
  );
  const inference = layersInference(model);
  const bare = async () => {
    for (let start = 0; start < ds.count; start += 256) {
      const x = inputBatch(tf, ds, undefined, start, Math.min(ds.count, start + 256));
      const y = model.predict(x) as ReturnType<typeof tf.zeros>;
      await y.data();
      tf.dispose([x, y]);
    }
  };
  const ours = () => measureAccuracy(tf, inference, ds);
  await bare();
  await ours();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await ours();
    a.push(ds.count / ((performance.now() - t) / 1000));
    t = performance.now();
    await bare();
    b.push(ds.count / ((performance.now() - t) / 1000));
  }
  model.dispose();
  return { ours: median(a), bare: median(b) };
}

async function inferenceLatency(
  backend: Backend,
  architecture: string,
  options: Record<string, unknown>,
  batch: number,
  runs: number,
): Promise<number> {
  const { tf } = await loadEngine(backend);
  const model = buildArchitecture(tf, architecture, options, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 3);
  const once = async () => {
    const y = model.predict(x) as ReturnType<typeof tf.zeros>;
    await y.data();
    y.dispose();
  };
  for (let i = 0; i < 3; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  x.dispose();
  model.dispose();
  return median(times);
}

log('mcbuild benchmarks (2-core machines are noisy: read the ratios)');

log('\n1. training throughput, lenet5 on MNIST, batch 64, adam (same batches, same loop)');
const wasmTrain = await trainingThroughput('wasm', 40, 60);
const cpuTrain = await trainingThroughput('cpu', 40, 45);
log(`   wasm + mcbuild kernels ${wasmTrain.toFixed(1).padStart(8)} samples/s`);
log(`   cpu                    ${cpuTrain.toFixed(1).padStart(8)} samples/s`);
log(`   ratio wasm/cpu         ${(wasmTrain / cpuTrain).toFixed(1).padStart(8)}x   (goal ≥ 20x)`);

log('\n2. evaluator overhead, mobilenet-v1 α=0.5 on 1,996 MNIST test images, batch 256, wasm');
const ev = await evalOverhead(await loadEngine('wasm'), 5);
log(`   mcbuild evaluator      ${ev.ours.toFixed(0).padStart(8)} images/s`);
log(`   bare predict loop      ${ev.bare.toFixed(0).padStart(8)} images/s`);
log(`   ratio ours/bare        ${(ev.ours / ev.bare).toFixed(2).padStart(8)}x   (goal ≥ 0.9x)`);

log('\n3. MobileNet inference, median ms per batch');
const backends: Backend[] = installedNativePackage() ? ['wasm', 'tensorflow'] : ['wasm'];
for (const backend of backends) {
  for (const [name, options] of [
    ['mobilenet-v1', { alpha: 0.5 }],
    ['mobilenet-v2', { alpha: 0.5 }],
  ] as const) {
    const one = await inferenceLatency(backend, name, options, 1, 20);
    const many = await inferenceLatency(backend, name, options, 64, 10);
    log(
      `   ${backend.padEnd(10)} ${name} α=0.5   batch 1: ${one.toFixed(2).padStart(7)} ms   batch 64: ${many.toFixed(1).padStart(7)} ms`,
    );
  }
}
if (!installedNativePackage())
  log('   (tensorflow: @tensorflow/tfjs-node is not installed here; it is measured when it is)');

await benchWeightPasses(log);
await benchSvd(log, (await loadEngine('wasm')).tf);
await benchFoldBatchnorm(log, (await loadEngine('wasm')).tf);
await benchPruneChannels(log, (await loadEngine('wasm')).tf);
await benchDistributed(log);
await benchDataDecode(log, (await loadEngine('wasm')).tf);
await benchMobilenetV2(log, (await loadEngine('wasm')).tf);
benchWasmThreads(log);
if (process.env.MCBUILD_BENCH_FIXTURE_PASSES === '1') await benchFixturePasses(log);
else
  log(
    '\n12. every pass on every fixture: skipped (3 to 9 min; MCBUILD_BENCH_FIXTURE_PASSES=1 npm run bench, or node dist/bench/fixture-passes.js)',
  );
await benchWholeBuilds(log);
