/**
 * Throughput of the weight passes that run without TF.js, on a synthetic 25M-parameter model
 * (five Dense layers of 2000×2500 float32 weights: 100 MB). Goal: ≥ 100 MB/s of fp32 weights.
 */
import type { StoredModel } from '../src/model/index.js';
import type { PassContext, PassDefinition } from '../src/passes/index.js';
import { cluster } from '../src/passes/cluster/index.js';
import { encode } from '../src/passes/encode/index.js';
import { prune } from '../src/passes/prune/index.js';
import { quantize } from '../src/passes/quantize/index.js';
import { mulberry32 } from '../src/util/random.js';

function syntheticModel(layers: number, rows: number, cols: number): StoredModel {
  const perLayer = rows * cols;
  const random = mulberry32(7);
  const data = new Float32Array(layers * perLayer);
  // Roughly Gaussian weights (sum of uniforms), like a trained kernel's.
  for (let i = 0; i < data.length; i++) data[i] = (random() + random() + random() - 1.5) * 0.05;
  return {
    json: {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'synthetic',
          layers: Array.from({ length: layers }, (_, i) => ({
            class_name: 'Dense',
            config: { name: `fc_${i + 1}`, units: cols },
          })),
        },
      },
    },
    weightSpecs: Array.from({ length: layers }, (_, i) => ({
      name: `fc_${i + 1}/kernel`,
      shape: [rows, cols],
      dtype: 'float32',
    })),
    weightData: new Uint8Array(data.buffer),
  };
}

const place = { path: ['passes', 0, 'bench'], at: () => 'bench' };
const ctx = { progress: () => {}, signal: new AbortController().signal } as unknown as PassContext;

export async function benchWeightPasses(log: (line: string) => void): Promise<void> {
  const model = syntheticModel(5, 2000, 2500);
  const mb = model.weightData.byteLength / 1e6;
  log(`\n4. weight passes without TF.js, synthetic 25M-parameter model (${mb.toFixed(0)} MB fp32), goal ≥ 100 MB/s`);
  const cases: [string, PassDefinition<object>, Record<string, unknown>][] = [
    ['quantize uint8 per-tensor', quantize, { dtype: 'uint8' }],
    ['quantize int8 per-channel', quantize, { dtype: 'int8', granularity: 'per-channel' }],
    ['quantize int4 per-group 32', quantize, { dtype: 'int4', granularity: 'per-group', groupSize: 32 }],
    ['quantize float16', quantize, { dtype: 'float16' }],
    ['prune magnitude 90% per layer', prune, { sparsity: 0.9 }],
    ['prune 2:4', prune, { pattern: '2:4' }],
    ['cluster 16 (k-means++, 30 iterations)', cluster, { clusters: 16 }],
  ];
  for (const [label, pass, raw] of cases) {
    const options = pass.resolveOptions(raw, place);
    const started = performance.now();
    await pass.apply(model, options, ctx);
    const seconds = (performance.now() - started) / 1000;
    log(`   ${label.padEnd(38)} ${(mb / seconds).toFixed(0).padStart(6)} MB/s   (${seconds.toFixed(2)} s)`);
  }
  // encode needs a small alphabet: the Deep Compression input, pruned 90% and clustered to 16 values.
  const pruned = (await prune.apply(model, prune.resolveOptions({ sparsity: 0.9 }, place), ctx)).model;
  const clustered = (await cluster.apply(pruned, cluster.resolveOptions({ clusters: 16 }, place), ctx)).model;
  const started = performance.now();
  const encoded = (await encode.apply(clustered, encode.resolveOptions({}, place), ctx)).model;
  const seconds = (performance.now() - started) / 1000;
  const ratio = clustered.weightData.byteLength / encoded.weightData.byteLength;
  log(
    `   ${'encode (90% pruned, 16 clusters)'.padEnd(38)} ${(mb / seconds).toFixed(0).padStart(6)} MB/s   (${seconds.toFixed(2)} s, ${ratio.toFixed(1)}x smaller)`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await benchWeightPasses((l) => process.stdout.write(`${l}\n`));
