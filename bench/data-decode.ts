/**
 * Image data at 224×224: what it costs to decode and preprocess real JPEG/PNG files (pure-JS jpeg-js and
 * pngjs, then mcbuild's resampler and normalisation) next to evaluating a MobileNetV2 (α = 1.0, 224×224×3,
 * 1000 classes, ~3.5M parameters) on the decoded images, and what a rebuild pays when the slice comes from
 * the cache instead. Decides whether a native decoder (sharp) is worth a dependency: only if decoding
 * dominates evaluation.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { StepCache } from '../src/cache/index.js';
import { cachedSlice, datasetFacts, datasetFingerprint, datasetId, loadDataset } from '../src/data/index.js';
import { decodeImage } from '../src/data/image-decode.js';
import type { Tf } from '../src/engine/runtime.js';
import type { ImagesDataSpec } from '../src/recipe/index.js';

/** A photo-like picture: smooth gradients, a few shapes and some noise (JPEG entropy close to a real photo's). */
function photo(width: number, height: number, seed: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  let s = seed * 2654435761;
  const noise = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) - 128;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - width * 0.6, y - height * 0.4) / width;
      const r = 128 + 100 * Math.sin(x / 23 + seed) + noise() / 8;
      const g = 90 + 120 * d + ((x ^ y) & 16 ? 30 : 0) + noise() / 8;
      const b = 200 - 150 * (y / height) + noise() / 8;
      data.set(
        [r, g, b, 255].map((v) => Math.max(0, Math.min(255, Math.round(v)))),
        (y * width + x) * 4,
      );
    }
  return data;
}

/** MobileNetV2 (Sandler et al. 2018), α = 1.0 at 224×224×3: the network users bring most often. */
function mobilenetV2(tf: Tf): TF.LayersModel {
  let n = 0;
  const init = () => tf.initializers.glorotUniform({ seed: n++ });
  const conv = (x: TF.SymbolicTensor, filters: number, kernel: number, stride: number, relu: boolean) => {
    let y = tf.layers
      .conv2d({
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(),
      })
      .apply(x) as TF.SymbolicTensor;
    y = tf.layers.batchNormalization().apply(y) as TF.SymbolicTensor;
    return relu ? (tf.layers.reLU({ maxValue: 6 }).apply(y) as TF.SymbolicTensor) : y;
  };
  const input = tf.input({ shape: [224, 224, 3] });
  let x = conv(input, 32, 3, 2, true);
  let channels = 32;
  for (const [t, c, repeats, stride] of [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
  ] as const) {
    for (let i = 0; i < repeats; i++) {
      const s = i === 0 ? stride : 1;
      let y = t === 1 ? x : conv(x, channels * t, 1, 1, true);
      y = tf.layers
        .depthwiseConv2d({ kernelSize: 3, strides: s, padding: 'same', useBias: false, depthwiseInitializer: init() })
        .apply(y) as TF.SymbolicTensor;
      y = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization().apply(y)) as TF.SymbolicTensor;
      y = conv(y, c, 1, 1, false);
      x = s === 1 && channels === c ? (tf.layers.add().apply([x, y]) as TF.SymbolicTensor) : y;
      channels = c;
    }
  }
  x = conv(x, 1280, 1, 1, true);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as TF.SymbolicTensor;
  const output = tf.layers.dense({ units: 1000, activation: 'softmax', kernelInitializer: init() }).apply(x);
  return tf.model({ inputs: input, outputs: output as TF.SymbolicTensor });
}

const ms = (t: number) => performance.now() - t;

export async function benchDataDecode(log: (line: string) => void, tf: Tf, count = 48): Promise<void> {
  log(
    `\n9. image data at 224×224: decode + preprocess vs evaluating MobileNetV2 α=1.0 (${count} images, ms per image)`,
  );
  const root = join(tmpdir(), `mcbuild-bench-decode-${process.pid}`);
  try {
    const folders: [string, string][] = [
      ['224×224 JPEG q90', 'jpg224'],
      ['500×375 JPEG q90 (photo size)', 'jpg500'],
      ['224×224 PNG', 'png224'],
    ];
    for (let i = 0; i < count; i++) {
      const name = `${String(i).padStart(3, '0')}`;
      for (const [dir, w, h, format] of [
        ['jpg224', 224, 224, 'jpg'],
        ['jpg500', 500, 375, 'jpg'],
        ['png224', 224, 224, 'png'],
      ] as const) {
        mkdirSync(join(root, dir), { recursive: true });
        const data = photo(w, h, i);
        let bytes: Uint8Array;
        if (format === 'jpg') bytes = jpeg.encode({ data, width: w, height: h }, 90).data;
        else {
          const png = new PNG({ width: w, height: h });
          data.copy(png.data);
          bytes = PNG.sync.write(png);
        }
        writeFileSync(join(root, dir, `${name}.${format}`), bytes);
      }
    }
    const spec = (dir: string): ImagesDataSpec => ({
      dataset: 'images',
      path: join(root, dir),
      split: 'test',
      channels: 3,
      scale: 1 / 255,
      offset: 0,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      preprocess: { size: [224, 224], resize: 'centre-crop', order: 'rgb', pad: 0 },
    });
    const model = mobilenetV2(tf);
    let evalMs = 0;
    const cache = new StepCache(join(root, 'cache'));
    for (const [label, dir] of folders) {
      const s = spec(dir);
      const files = readdirSync(s.path).map((f) => readFileSync(join(s.path, f)));
      // Each figure is the median of three rounds, after one untimed round (JIT warm-up).
      const timed = async (run: () => Promise<unknown>): Promise<number> => {
        await run();
        const rounds: number[] = [];
        for (let r = 0; r < 3; r++) {
          const t = performance.now();
          await run();
          rounds.push(ms(t) / count);
        }
        return rounds.sort((a, b) => a - b)[1]!;
      };
      const decode = await timed(() => Promise.resolve(files.forEach((f, i) => decodeImage(f, String(i)))));
      const ds = await loadDataset(s);
      const load = await timed(() => loadDataset(s));
      const facts = await datasetFacts(s, 'bench');
      const keyed = datasetFingerprint(s, { [datasetId(s)]: facts! });
      await cachedSlice(cache, s, keyed, () => Promise.resolve(ds));
      const hit = await timed(() => cachedSlice(cache, s, keyed, () => loadDataset(s)));
      let t = 0;
      if (evalMs === 0) {
        // Batches of 16, as mcbuild's evaluator feeds them; one untimed batch first.
        const batch = (start: number) =>
          tf.tensor4d(ds.x.subarray(start * 150528, (start + 16) * 150528), [16, 224, 224, 3]);
        const warm = batch(0);
        (model.predict(warm) as TF.Tensor).dispose();
        warm.dispose();
        t = performance.now();
        for (let start = 0; start + 16 <= count; start += 16) {
          const x = batch(start);
          const y = model.predict(x) as TF.Tensor;
          await y.data();
          tf.dispose([x, y]);
        }
        evalMs = ms(t) / (Math.floor(count / 16) * 16);
        log(
          `   evaluate MobileNetV2 α=1.0 on ${tf.getBackend()}, batch 16   ${evalMs.toFixed(1).padStart(7)} ms/image`,
        );
      }
      log(
        `   ${label.padEnd(30)} decode ${decode.toFixed(1).padStart(6)}   decode+preprocess ${load.toFixed(1).padStart(6)}   cached slice ${hit.toFixed(2).padStart(6)}   (decode+preprocess)/evaluate ${(load / evalMs).toFixed(2)}x`,
      );
    }
    model.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
