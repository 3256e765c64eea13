/**
 * Profiler for work on src/engine/kernels: training throughput and per-kernel time of the builtin
 * architectures on wasm, to find what dominates a training step.
 *
 * Run: `npm run bench:profile -- [v1-0.25-d0|v1-0.5|v2-0.35|v2-0.5|lenet5 ...]`
 * Env: BASELINE=1 skips registering the faster kernels added on top of the three missing ones (for before/after).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadMnist } from '../src/data/mnist.js';
import { buildArchitecture } from '../src/engine/architectures/index.js';
import { registerWasmTrainingKernels, wasmTrainingKernels } from '../src/engine/kernels/index.js';

const MODELS: Record<string, { arch: string; options: Record<string, unknown> }> = {
  'v1-0.25-d0': { arch: 'mobilenet-v1', options: { alpha: 0.25, depth: 0 } },
  'v1-0.5': { arch: 'mobilenet-v1', options: { alpha: 0.5 } },
  'v2-0.35': { arch: 'mobilenet-v2', options: { alpha: 0.35 } },
  'v2-0.5': { arch: 'mobilenet-v2', options: { alpha: 0.5 } },
  lenet5: { arch: 'lenet5', options: {} },
};

const BATCH = 64;
const WARMUP = 3;
const TIMED = Number(process.env.TIMED ?? 30);
const PROFILED = Number(process.env.PROFILED ?? 5);

// Inclusive time of outermost kernel calls only, so composite kernels are not double counted.
const kernelMs = new Map<string, number>();
const kernelCalls = new Map<string, number>();
let depth = 0;
let profiling = false;

function wrapKernels(): void {
  for (const config of tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args: Parameters<tf.KernelFunc>[0]) => {
        if (!profiling || depth > 0) {
          depth++;
          try {
            return inner(args);
          } finally {
            depth--;
          }
        }
        depth++;
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          depth--;
          kernelMs.set(name, (kernelMs.get(name) ?? 0) + performance.now() - t0);
          kernelCalls.set(name, (kernelCalls.get(name) ?? 0) + 1);
        }
      },
    });
  }
}

function loss(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.metrics.categoricalCrossentropy(yTrue, yPred).add(yPred.sum(-1).mul(0)));
}

async function main(): Promise<void> {
  if (process.env.BASELINE === '1') {
    for (const k of wasmTrainingKernels.slice(0, 3)) if (!tf.getKernel(k.kernelName, 'wasm')) tf.registerKernel(k);
  } else {
    registerWasmTrainingKernels();
  }
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  wrapKernels();
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODELS);
  const ds = await loadMnist('train', BATCH * (WARMUP + Math.max(TIMED, PROFILED)));
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor[] = [];
  for (let b = 0; b * BATCH < ds.count; b++) {
    xs.push(tf.tensor4d(ds.x.subarray(b * BATCH * 784, (b + 1) * BATCH * 784), [BATCH, 28, 28, 1]));
    const y = new Float32Array(BATCH * 10);
    for (let i = 0; i < BATCH; i++) y[i * 10 + ds.y[b * BATCH + i]!] = 1;
    ys.push(tf.tensor2d(y, [BATCH, 10]));
  }
  for (const name of names) {
    const spec = MODELS[name]!;
    const model = buildArchitecture(tf, spec.arch, spec.options, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    model.compile({ optimizer: tf.train.adam(1e-3), loss });
    let b = 0;
    for (let i = 0; i < WARMUP; i++, b++) await model.trainOnBatch(xs[b]!, ys[b]!);
    const t0 = performance.now();
    let lastLoss = 0;
    for (let i = 0; i < TIMED; i++, b++)
      lastLoss = (await model.trainOnBatch(xs[b % xs.length]!, ys[b % ys.length]!)) as number;
    const seconds = (performance.now() - t0) / 1000;
    kernelMs.clear();
    kernelCalls.clear();
    profiling = true;
    const p0 = performance.now();
    for (let i = 0; i < PROFILED; i++, b++) await model.trainOnBatch(xs[b % xs.length]!, ys[b % ys.length]!);
    const stepMs = (performance.now() - p0) / PROFILED;
    profiling = false;
    const rows = [...kernelMs.entries()].sort((a, c) => c[1] - a[1]);
    const inKernels = rows.reduce((s, r) => s + r[1], 0) / PROFILED;
    console.log(
      `\n== ${name} (${model.countParams()} params): ${((TIMED * BATCH) / seconds).toFixed(0)} samples/s, ` +
        `${((seconds * 1000) / TIMED).toFixed(1)} ms/step, loss ${lastLoss.toFixed(3)}; profiled ${stepMs.toFixed(1)} ms/step, ` +
        `${inKernels.toFixed(1)} ms in kernels`,
    );
    for (const [k, ms] of rows.slice(0, 40)) {
      console.log(
        `  ${k.padEnd(38)} ${(ms / PROFILED).toFixed(2).padStart(8)} ms  ${((kernelCalls.get(k) ?? 0) / PROFILED).toFixed(0).padStart(4)} calls`,
      );
    }
    model.dispose();
  }
}

await main();
