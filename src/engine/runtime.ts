/**
 * The only module that loads TF.js. Everything that computes imports the engine through loadEngine(), so a
 * fully cached build, `mcbuild plan` and the recipe checks never pay TF.js's start-up cost.
 */
import type * as TF from '@tensorflow/tfjs';
import { McbError } from '../errors.js';
import type { Backend } from '../recipe/index.js';
import { installedNativePackage } from './backend.js';
import { isPacked, unpackWeights } from '../runtime/decode.js';
import { startWasm, wasmThreadCount } from './wasm-threads.js';
import { concatBytes, modelKind, modelSignature, type StoredModel } from '../model/index.js';

export type Tf = typeof TF;

export interface Engine {
  tf: Tf;
  backend: Backend;
  /** Threads its kernels run on: wasm's pool size (see ./wasm-threads.ts); 1 for cpu; tfjs-node picks its own. */
  threads: number;
}

let current: Promise<Engine> | undefined;
let currentBackend: Backend | undefined;

/**
 * Loads TF.js once per process and switches to `backend`. `threads` (default: MCBUILD_THREADS, else every core)
 * is taken on the first load of wasm only: a process starts the wasm module once.
 */
export async function loadEngine(backend: Backend, threads?: number): Promise<Engine> {
  if (current && currentBackend === backend) return current;
  currentBackend = backend;
  current = init(backend, backend === 'wasm' ? wasmThreadCount(threads) : 1).catch((e: unknown) => {
    current = undefined;
    currentBackend = undefined;
    throw e;
  });
  return current;
}

async function init(backend: Backend, threads: number): Promise<Engine> {
  let tf: Tf;
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm') | undefined;
  try {
    if (backend === 'tensorflow') {
      // tfjs-node re-exports the whole tfjs API and registers the 'tensorflow' backend on import.
      tf = (await import(installedNativePackage() ?? '@tensorflow/tfjs-node')) as Tf;
    } else {
      tf = await import('@tensorflow/tfjs');
      if (backend === 'wasm') {
        wasm = await import('@tensorflow/tfjs-backend-wasm');
        // wasm lacks three gradient kernels CNN training needs, and a few of its kernels dominate a MobileNet
        // training step; ours are built from its fast ops (see src/engine/kernels).
        (await import('./kernels/index.js')).registerWasmTrainingKernels();
      }
    }
  } catch (e) {
    throw new McbError(
      'MCB_BACKEND',
      `cannot load the TF.js "${backend}" backend: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}. Reinstall with \`npm ci\`, or pick another with --backend wasm|cpu.`,
      { cause: e },
    );
  }
  // PROD silences TF.js's console advice ("install tfjs-node"), which would garble our progress output.
  tf.env().set('PROD', true);
  const started = wasm ? await startWasm(tf, wasm, threads) : (await tf.setBackend(backend)) ? 1 : 0;
  if (!started) {
    throw new McbError(
      'MCB_BACKEND',
      `the TF.js "${backend}" backend failed to initialise. Pick another with --backend wasm|cpu.`,
    );
  }
  await tf.ready();
  // mcbuild's own wasm kernels run on as many threads as XNNPACK's pool (src/engine/kernels/team).
  if (wasm) (await import('./kernels/index.js')).setKernelThreads(started);
  return { tf, backend, threads: started };
}

/**
 * The weights TF.js is given: TF.js-native quantized weights as stored (TF.js dequantizes them itself),
 * packed ones decoded to float32 by the runtime loader's decoder (src/runtime/decode.ts), so the evaluator
 * measures exactly what `mcbuild/runtime` produces.
 */
function tfWeights(m: StoredModel): { weightSpecs: TF.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  if (!m.weightSpecs.some(isPacked))
    return { weightSpecs: m.weightSpecs as TF.io.WeightsManifestEntry[], weightData: toArrayBuffer(m.weightData) };
  const u = unpackWeights(m.weightSpecs, m.weightData);
  return { weightSpecs: u.weightSpecs as TF.io.WeightsManifestEntry[], weightData: toArrayBuffer(u.weightData) };
}

/** Builds a TF.js LayersModel from stored artifacts; quantized weights are dequantized as on load. */
export async function toLayersModel(tf: Tf, m: StoredModel): Promise<TF.LayersModel> {
  checkLayerClasses(tf, m.json.modelTopology);
  const { trainingConfig: _omit, ...json } = m.json;
  return tf.loadLayersModel(
    tf.io.fromMemory({ ...(json as object), modelTopology: json.modelTopology as object, ...tfWeights(m) }),
  );
}

export async function toGraphModel(tf: Tf, m: StoredModel): Promise<TF.GraphModel> {
  return tf.loadGraphModel(
    tf.io.fromMemory({ ...(m.json as object), modelTopology: m.json.modelTopology as object, ...tfWeights(m) }),
  );
}

/**
 * Every layer's class must be one TF.js has registered: otherwise TF.js throws a ValueError deep in its
 * deserialiser, which would surface as an internal error. Nested models are walked too (bounded: readModelDir
 * caps model.json's nesting).
 */
function checkLayerClasses(tf: Tf, topology: unknown): void {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const n = node as { model_config?: unknown; class_name?: unknown; config?: unknown };
    if (n.model_config !== undefined) return visit(n.model_config);
    const config = n.config as { layers?: unknown } | unknown[] | undefined;
    const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
    if (!Array.isArray(layers)) return;
    for (const layer of layers as { class_name?: unknown; config?: { name?: unknown } }[]) {
      const cls = layer?.class_name;
      if (typeof cls !== 'string') continue;
      if (!Object.prototype.hasOwnProperty.call(known, cls)) {
        const name = typeof layer.config?.name === 'string' ? JSON.stringify(layer.config.name) : '(unnamed)';
        throw new McbError(
          'MCB_MODEL_INVALID',
          `the model's layer ${name} has class ${JSON.stringify(cls)}, which TF.js does not know (a custom layer, or a Keras layer TF.js lacks). Replace the layer with built-in ones before converting, or start from a model that uses TF.js layers only.`,
        );
      }
      visit(layer);
    }
  };
  visit(topology);
}

/** Captures what model.save() would write, without touching the disk. */
export async function fromLayersModel(tf: Tf, model: TF.LayersModel): Promise<StoredModel> {
  let saved: TF.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      saved = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } });
    }),
  );
  if (!saved?.weightSpecs || saved.weightData === undefined) throw new Error('model.save produced no weights');
  const data = saved.weightData;
  const chunks = (Array.isArray(data) ? data : [data]).map((b) => new Uint8Array(b));
  return {
    json: {
      format: 'layers-model',
      generatedBy: saved.generatedBy,
      convertedBy: saved.convertedBy ?? null,
      modelTopology: saved.modelTopology,
    },
    weightSpecs: saved.weightSpecs as StoredModel['weightSpecs'],
    weightData: concatBytes(chunks),
  };
}

/** A model ready to predict, whatever its format. */
export interface InferenceModel {
  /** Every output, in the model's order (the signature's for a graph model), as float32 or its own dtype. */
  run(x: TF.Tensor): Promise<TF.Tensor[]>;
  /** The first output, for callers that read one (a distillation teacher); not for graphs that need executeAsync. */
  predict(x: TF.Tensor): TF.Tensor;
  /** TF.js runs this model with executeAsync (control flow, dynamic shapes). */
  readonly async: boolean;
  /** Its outputs' names, in the order run() gives them. */
  readonly outputNames: readonly string[];
  /** The dtype its (first) input takes: int32 and bool inputs are fed as such. */
  readonly inputDtype: 'float32' | 'int32' | 'bool';
  /** The batch size its input is fixed to (a detector exported for [1, h, w, 3]); every batch fed has it. */
  readonly fixedBatch?: number;
  dispose(): void;
}

export async function loadForInference(tf: Tf, m: StoredModel): Promise<InferenceModel> {
  if (modelKind(m.json) === 'graph') {
    const g = await toGraphModel(tf, m);
    const signature = modelSignature(m.json);
    const async = signature.async;
    const outputs = g.outputNodes;
    const all = (out: TF.Tensor | TF.Tensor[] | TF.NamedTensorMap): TF.Tensor[] =>
      out instanceof tf.Tensor ? [out] : Array.isArray(out) ? out : outputs.map((n) => out[n]!);
    return {
      async,
      outputNames: outputs,
      inputDtype: feedDtype(signature.inputs[0]?.dtype),
      ...fixedBatchOf(signature.inputs[0]?.shape),
      run: async (x) => all(await graphOp(() => (async ? g.executeAsync(x, outputs) : g.execute(x, outputs)))),
      predict: (x) => {
        const out = all(graphOpSync(() => g.execute(x, outputs)));
        for (const t of out.slice(1)) t.dispose();
        return out[0]!;
      },
      dispose: () => g.dispose(),
    };
  }
  const input = modelSignature(m.json).inputs[0];
  return layersInference(await toLayersModel(tf, m), {
    inputDtype: feedDtype(input?.dtype),
    ...fixedBatchOf(input?.shape),
  });
}

function fixedBatchOf(shape: readonly (number | null)[] | undefined): { fixedBatch?: number } {
  const b = shape?.[0];
  return typeof b === 'number' && b > 0 ? { fixedBatch: b } : {};
}

function feedDtype(d: string | undefined): InferenceModel['inputDtype'] {
  return d === 'int32' || d === 'bool' ? d : 'float32';
}

/** A LayersModel (or anything with its predict) as an InferenceModel; `dispose` disposes it unless told not to. */
export function layersInference(
  l: Pick<TF.LayersModel, 'predict' | 'outputNames'> & Partial<Pick<TF.LayersModel, 'dispose' | 'layers'>>,
  opts: { keep?: boolean; inputDtype?: InferenceModel['inputDtype']; fixedBatch?: number } = {},
): InferenceModel {
  const all = (out: TF.Tensor | TF.Tensor[]) => (Array.isArray(out) ? out : [out]);
  return {
    async: false,
    // A Sequential keeps its names on an inner model: its output is its last layer's.
    outputNames: l.outputNames.length
      ? l.outputNames
      : l.layers?.length
        ? [l.layers[l.layers.length - 1]!.name]
        : ['output'],
    inputDtype: opts.inputDtype ?? 'float32',
    ...(opts.fixedBatch ? { fixedBatch: opts.fixedBatch } : {}),
    run: (x) => Promise.resolve(all(l.predict(x))),
    predict: (x) => {
      const out = all(l.predict(x));
      for (const t of out.slice(1)) t.dispose();
      return out[0]!;
    },
    dispose: () => {
      if (!opts.keep) l.dispose?.();
    },
  };
}

/** TF.js maps a graph's ops lazily: an op it has no kernel for fails at the first prediction. */
function unknownOp(e: unknown): McbError | undefined {
  const op = /^(?:Unknown op '([^']+)'|Custom op (\S+) is not registered)/.exec(e instanceof Error ? e.message : '');
  return op
    ? new McbError(
        'MCB_MODEL_INVALID',
        `the graph model uses the op ${JSON.stringify(op[1] ?? op[2])}, which TF.js cannot run. Convert the model again with tensorflowjs_converter (it rejects ops TF.js lacks), or replace that op before converting.`,
        { cause: e },
      )
    : undefined;
}

async function graphOp<T>(run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw unknownOp(e) ?? e;
  }
}

function graphOpSync<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw unknownOp(e) ?? e;
  }
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
