// One process per thread count, for test/engine/wasm-threads.test.ts: a process starts the wasm module once.
// Needs `npm run build` (imports dist/). usage: node test/engine/wasm-threads-child.mjs <threads>
// Prints {"threads": <the pool's size>, "workerParts": <kernel parts run by worker threads>,
// "<case>": "<sha256 of its float32 bytes>", ...} as JSON.
import { createHash } from 'node:crypto';
import { loadMnist } from '../../dist/src/data/mnist.js';
import { buildArchitecture } from '../../dist/src/engine/architectures/index.js';
import { teamFor } from '../../dist/src/engine/kernels/team/team.js';
import { loadEngine } from '../../dist/src/engine/runtime.js';
import { trainModel } from '../../dist/src/engine/train.js';

const { tf, threads } = await loadEngine('wasm', Number(process.argv[2]));
const out = { threads };
const digest = async (t) =>
  createHash('sha256')
    .update(new Uint8Array((await t.data()).buffer))
    .digest('hex');
const uniform = (shape, seed) => tf.randomUniform(shape, -1, 1, 'float32', seed);

// Shapes big enough that XNNPACK splits each over several tiles (its pool gives one tile to a thread at a time).
const x = uniform([4, 32, 32, 24], 1);
out.conv3x3 = await digest(tf.conv2d(x, uniform([3, 3, 24, 32], 2), 1, 'same'));
out.conv3x3s2 = await digest(tf.conv2d(x, uniform([3, 3, 24, 32], 3), 2, 'valid'));
out.conv1x1 = await digest(tf.conv2d(x, uniform([1, 1, 24, 48], 4), 1, 'same'));
out.depthwise = await digest(tf.depthwiseConv2d(x, uniform([3, 3, 24, 2], 5), 1, 'same'));
out.matMul = await digest(tf.matMul(uniform([96, 200], 6), uniform([200, 72], 7)));
out.matMulT = await digest(tf.matMul(uniform([200, 96], 8), uniform([72, 200], 9), true, true));

// Inference batch norm (our SIMD kernel, split over the kernel team's threads), and whether it gives the wasm
// backend's own kernel's bits: big enough for every thread to get a part.
{
  const bx = tf.mul(uniform([8, 32, 32, 40], 10), 20);
  const [mean, offset, scale] = [11, 12, 13].map((seed) => uniform([40], seed));
  const variance = tf.abs(uniform([40], 14));
  const ours = tf.batchNorm(bx, mean, variance, offset, scale, 0.001);
  out.batchNorm = await digest(ours);
  const backend = tf.backend();
  const id = (t) => backend.dataIdMap.get(t.dataId).id;
  const theirs = backend.makeOutput(bx.shape, 'float32');
  backend.wasm.cwrap('FusedBatchNorm', null, Array(7).fill('number'))(
    id(bx),
    id(mean),
    id(variance),
    id(offset),
    id(scale),
    0.001,
    id(theirs),
  );
  out.batchNormIsWasmKernel =
    (await digest(tf.engine().makeTensorFromTensorInfo(theirs))) === out.batchNorm ? 'yes' : 'no';
}

// Training through our wasm kernels (src/engine/kernels) and the loop every training pass uses (train, finetune,
// prune, distill), then evaluation: dense, conv, depthwise and batch-norm layers, forwards and backwards.
const ds = await loadMnist('train', 96);
const images = tf.tensor4d(ds.x.subarray(0, 64 * 784), [64, 28, 28, 1]);
const train = { epochs: 1, batchSize: 32, learningRate: 0.002, optimizer: 'adam', seed: 5, batchNormBatches: 2 };
const models = {};
for (const [name, options] of [
  ['lenet5', {}],
  ['mobilenet-v1', { alpha: 0.25 }],
  ['mobilenet-v2', { alpha: 0.35 }],
]) {
  const model = buildArchitecture(tf, name, options, { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  await trainModel(tf, model, ds, { ...train, maxBatches: 3 });
  const weights = tf.concat(model.getWeights().map((w) => w.flatten()));
  out[`${name}.weights`] = await digest(weights);
  out[`${name}.predict`] = await digest(model.predict(images));
  models[name] = model;
}
// Distillation's path: a custom loss (cross-entropy against a teacher's soft targets, looked up by sample index)
// through the optimizer's minimize instead of trainOnBatch; then finetuning the result further (SGD momentum).
const all = tf.tensor4d(ds.x.subarray(0, ds.count * 784), [ds.count, 28, 28, 1]);
const soft = models.lenet5.predict(all);
const student = models['mobilenet-v1'];
await trainModel(tf, student, ds, {
  ...train,
  maxBatches: 3,
  loss: (outputs, _labels, indices) =>
    tf.losses.computeWeightedLoss(tf.metrics.categoricalCrossentropy(tf.gather(soft, Array.from(indices)), outputs[0])),
});
out['distill.weights'] = await digest(tf.concat(student.getWeights().map((w) => w.flatten())));
await trainModel(tf, student, ds, { ...train, optimizer: 'momentum', learningRate: 0.01, maxBatches: 2 });
out['finetune.weights'] = await digest(tf.concat(student.getWeights().map((w) => w.flatten())));
out['finetune.predict'] = await digest(student.predict(images));
out.workerParts = teamFor(tf.backend())?.workerParts;
process.stdout.write(JSON.stringify(out));
