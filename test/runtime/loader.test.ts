/**
 * mcbuild/runtime's loader: a built packed model served over loopback HTTP loads with mcbuildLoader + stock
 * tf.loadLayersModel in a separate process and predicts exactly as mcbuild measured; stock TF.js alone refuses
 * it; corrupted and truncated shards are refused with clear messages.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { modelToFiles, type StoredModel } from '../../src/model/index.js';
import { fromLayersModel } from '../../src/engine/runtime.js';
import type { PassContext } from '../../src/passes/index.js';
import { quantize } from '../../src/passes/quantize/index.js';
import { mcbuildLoader } from '../../src/runtime/index.js';
import { ROOT, runCli, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const out = join(dir, 'out');
let built: CliRun;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  writeText(
    join(dir, 'tiny.yaml'),
    tinyRecipe({
      passes: '  - quantize: { dtype: int4, granularity: per-channel, clip: mse }',
      thresholds: '  accuracy: { maxDrop: 0.5 }',
    }),
  );
  built = await runCli([join(dir, 'tiny.yaml'), '--cache-dir', join(dir, 'cache')], { cwd: dir });
});

/** Runs test/load-model.mjs on `folder` in a child process. */
function childLoad(
  folder: string,
  how: 'loader' | 'stock',
  inputs: string,
  count: number,
): { classes?: number[]; error?: string } {
  return JSON.parse(
    execFileSync(
      process.execPath,
      [join(ROOT, 'test/load-model.mjs'), folder, how, 'layers', inputs, String(count), '28,28,1'],
      { cwd: ROOT },
    ).toString(),
  );
}

/** A fetch over an in-memory folder. */
function memoryFetch(files: ReadonlyMap<string, Uint8Array>): typeof fetch {
  return async (input: string | URL | Request) => {
    const name = new URL(input instanceof Request ? input.url : input).pathname.replace(/^\/m\//, '');
    const body = files.get(name);
    return body ? new Response(body) : new Response(null, { status: 404 });
  };
}

describe('a packed int4 build loaded with mcbuild/runtime', () => {
  it('builds, with int4 kernels in model.json', () => {
    expect(built.stderr).not.toMatch(/internal error/);
    expect(built.code).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    const kernels = json.weightsManifest[0].weights.filter((w: { name: string }) => w.name.endsWith('kernel'));
    expect(kernels.map((k: { quantization: { dtype: string } }) => k.quantization.dtype)).toEqual(['int4', 'int4']);
    expect(kernels[0].quantization).toMatchObject({
      granularity: 'per-channel',
      axis: 1,
      symmetric: true,
      checksum: expect.stringMatching(/^crc32:[0-9a-f]{8}$/),
    });
  });

  it('predicts in a separate process exactly as mcbuild measured; stock TF.js alone refuses the model', async () => {
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const loaded = childLoad(out, 'loader', inputs, 300);
    expect(loaded.error).toBeUndefined();
    const correct = loaded.classes!.filter((c, i) => c === test.y[i]).length;
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(correct).toBe(report.metrics.result.correct);
    const stock = childLoad(out, 'stock', inputs, 300);
    expect(stock.classes).toBeUndefined();
    expect(stock.error).toMatch(/unknown quantization dtype int4/);
  });

  function outFiles(): Map<string, Uint8Array> {
    return new Map(['model.json', 'group1-shard1of1.bin'].map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]));
  }

  it('refuses a shard with a flipped byte', async () => {
    const files = outFiles();
    const shard = Uint8Array.from(files.get('group1-shard1of1.bin')!);
    shard[100]! ^= 0x10; // inside the first kernel's packed bytes
    files.set('group1-shard1of1.bin', shard);
    await expect(
      tf.loadLayersModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(files) })),
    ).rejects.toThrow(
      /mcbuildLoader\(http:\/\/h\/m\/model\.json\): weight fc_1\/kernel: checksum mismatch \(model\.json says crc32:[0-9a-f]{8}, the shard bytes give crc32:[0-9a-f]{8}\); the weight shard is corrupted/,
    );
  });

  it('refuses a truncated shard', async () => {
    const files = outFiles();
    const shard = files.get('group1-shard1of1.bin')!;
    files.set('group1-shard1of1.bin', shard.subarray(0, shard.byteLength - 3));
    await expect(
      tf.loadLayersModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(files) })),
    ).rejects.toThrow(
      new RegExp(
        `the weight shards of group 1 \\(group1-shard1of1\\.bin\\) hold ${shard.byteLength - 3} bytes but its weights need ${shard.byteLength}; a shard is truncated`,
      ),
    );
  });

  it('refuses a missing shard with its URL and HTTP status', async () => {
    const files = outFiles();
    files.delete('group1-shard1of1.bin');
    await expect(
      tf.loadLayersModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(files) })),
    ).rejects.toThrow(/fetching http:\/\/h\/m\/group1-shard1of1\.bin failed with HTTP 404/);
  });
});

describe('natively decodable models through the loader', () => {
  it('pass through untouched: the same weights as TF.js decodes without the loader', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [6],
          units: 5,
          kernelInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 1.1, seed: 3 }),
        }),
      ],
    });
    const stored: StoredModel = await fromLayersModel(tf, m);
    m.dispose();
    for (const options of [
      undefined,
      { dtype: 'uint8', granularity: 'per-tensor' },
      { dtype: 'float16', granularity: 'per-tensor' },
    ] as const) {
      const model = options ? (await quantize.apply(stored, options, {} as PassContext)).model : stored;
      const files = modelToFiles(model);
      const viaLoader = await tf.loadLayersModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(files) }));
      const direct = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: model.json.modelTopology as object,
          weightSpecs: model.weightSpecs as tf.io.WeightsManifestEntry[],
          weightData: model.weightData.slice().buffer,
        }),
      );
      const a = await Promise.all(viaLoader.getWeights().map((t) => t.data()));
      const b = await Promise.all(direct.getWeights().map((t) => t.data()));
      expect(a.map((d) => Array.from(d))).toEqual(b.map((d) => Array.from(d)));
      viaLoader.dispose();
      direct.dispose();
    }
  });
});

describe('a packed graph model through the loader', () => {
  it('tf.loadGraphModel(mcbuildLoader(url)) predicts exactly what mcbuild evaluates; int32 weights are skipped', async () => {
    const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
    const constNode = (name: string, dtype: string, shape: number[]) => ({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
    });
    const topology = {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 12]) } } },
        constNode('flat_shape', 'DT_INT32', [2]),
        {
          name: 'flat',
          op: 'Reshape',
          input: ['x', 'flat_shape'],
          attr: { T: { type: 'DT_FLOAT' }, Tshape: { type: 'DT_INT32' } },
        },
        constNode('dense/kernel', 'DT_FLOAT', [12, 4]),
        {
          name: 'dense/MatMul',
          op: 'MatMul',
          input: ['flat', 'dense/kernel'],
          attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
        },
      ],
      library: {},
      versions: { producer: 1 },
    };
    const kernel = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i * 1.7) * 0.5);
    const model: StoredModel = {
      json: { format: 'graph-model', generatedBy: 'test', convertedBy: 'hand', modelTopology: topology },
      weightSpecs: [
        { name: 'flat_shape', shape: [2], dtype: 'int32' },
        { name: 'dense/kernel', shape: [12, 4], dtype: 'float32' },
      ],
      weightData: new Uint8Array([
        ...new Uint8Array(new Int32Array([-1, 12]).buffer),
        ...new Uint8Array(kernel.buffer),
      ]),
    };
    const { model: packed, stats } = await quantize.apply(
      model,
      { dtype: 'int4', granularity: 'per-group', groupSize: 5, symmetric: true, clip: 'none' },
      {} as PassContext,
    );
    expect(stats).toMatchObject({ weightsQuantized: 1, weightsSkipped: 1 });
    const { toGraphModel } = await import('../../src/engine/runtime.js');
    const measured = await toGraphModel(tf, packed);
    const viaLoader = await tf.loadGraphModel(
      mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(modelToFiles(packed)) }),
    );
    const x = tf.tensor2d(
      Float32Array.from({ length: 36 }, (_, i) => Math.cos(i)),
      [3, 12],
    );
    const a = await (measured.predict(x) as tf.Tensor).data();
    const b = await (viaLoader.predict(x) as tf.Tensor).data();
    expect(Array.from(b)).toEqual(Array.from(a));
    x.dispose();
    measured.dispose();
    viaLoader.dispose();
  });
});
