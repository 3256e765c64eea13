/**
 * `mcbuild/runtime`: loads an mcbuild output with stock TF.js, including weights in mcbuild's packed format
 * (int8/int4/int2, codebooks, entropy-coded weights; docs/packed-format.md) that TF.js cannot decode by itself:
 *
 *   const model = await tf.loadLayersModel(mcbuildLoader('https://host/model/model.json'));
 *
 * It fetches model.json and its shards (relative to model.json's URL), checks every group's length and every
 * packed weight's checksum, and hands TF.js float32 weights decoded by the same code mcbuild measured with.
 * TF.js-native weights (float32, uint8/uint16/float16 quantization) pass through untouched. One small
 * dependency, fflate's inflate for entropy-coded weights; TF.js is only used for types. Works in browsers and
 * Node ≥ 18 (global fetch).
 */
import type { io } from '@tensorflow/tfjs';
import { concatBytes, PackedFormatError, storedByteLength, unpackWeights, type ManifestEntry } from './decode.js';

export {
  crc32,
  decodePacked,
  decodeStored,
  isPacked,
  PackedFormatError,
  packedLayout,
  storedByteLength,
  unpackWeights,
} from './decode.js';
export { decodeEncoded, encodedLayout, isEncoded } from './encoded.js';
export type { CodebookQuantization, EntropyEncoding } from './encoded.js';
export type { ManifestEntry, PackedDtype, PackedGranularity, PackedQuantization } from './decode.js';

export interface McbuildLoaderOptions {
  /** fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Passed to every fetch (credentials, headers…). */
  requestInit?: RequestInit;
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

export function mcbuildLoader(url: string, opts: McbuildLoaderOptions = {}): io.IOHandler {
  return {
    load: async (): Promise<io.ModelArtifacts> => {
      const get = opts.fetch ?? globalThis.fetch;
      if (typeof get !== 'function') throw new Error('mcbuildLoader: no fetch available; pass opts.fetch');
      const fail = (message: string): never => {
        throw new PackedFormatError(`mcbuildLoader(${url}): ${message}`);
      };
      const fetchOk = async (target: string): Promise<Response> => {
        let res: Response;
        try {
          res = await get(target, opts.requestInit);
        } catch (e) {
          return fail(`cannot fetch ${target}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (!res.ok) fail(`fetching ${target} failed with HTTP ${res.status}`);
        return res;
      };
      let json: Record<string, unknown>;
      try {
        json = (await (await fetchOk(url)).json()) as Record<string, unknown>;
      } catch (e) {
        if (e instanceof PackedFormatError) throw e;
        return fail(`model.json is not JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object')
        fail('model.json has no modelTopology');
      const manifest = json.weightsManifest as ManifestGroup[] | undefined;
      if (!Array.isArray(manifest)) fail('model.json has no weightsManifest');
      // Relative model URLs resolve against the page in a browser.
      const page = (globalThis as { location?: { href?: string } }).location?.href;
      const base = new URL(url, page);
      const specs: ManifestEntry[] = [];
      const chunks: Uint8Array[] = [];
      for (const [g, group] of manifest!.entries()) {
        const groupChunks = await Promise.all(
          group.paths.map(async (p) => new Uint8Array(await (await fetchOk(new URL(p, base).href)).arrayBuffer())),
        );
        let expected = 0;
        for (const spec of group.weights) {
          try {
            expected += storedByteLength(spec);
          } catch (e) {
            fail(e instanceof Error ? e.message : String(e));
          }
        }
        const actual = groupChunks.reduce((n, c) => n + c.byteLength, 0);
        if (actual !== expected)
          fail(
            `the weight shards of group ${g + 1} (${group.paths.join(', ')}) hold ${actual} bytes but its weights need ${expected}; a shard is truncated or from another model`,
          );
        specs.push(...group.weights);
        chunks.push(...groupChunks);
      }
      const data = concatBytes(chunks);
      let unpacked;
      try {
        unpacked = unpackWeights(specs, data);
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e));
      }
      const { weightsManifest: _m, ...rest } = json;
      return {
        ...(rest as Partial<io.ModelArtifacts>),
        modelTopology: json.modelTopology as object,
        weightSpecs: unpacked.weightSpecs as io.WeightsManifestEntry[],
        weightData: unpacked.weightData.buffer as ArrayBuffer,
      };
    },
  };
}
