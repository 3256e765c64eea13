/**
 * The checks a weights manifest passes before any byte is trusted: shard paths stay inside the model's
 * folder, every weight has a name, a sane shape and a dtype mcbuild reads, and each group's shards hold
 * exactly the bytes its weights need. Shared by readModelDir (files from disk) and filesToModel (files from
 * the cache), so both refuse the same models with the same messages.
 */
import { isAbsolute, normalize, relative, sep } from 'node:path';
import { McbError } from '../errors.js';
import { MAX_WEIGHT_BYTES, MAX_WEIGHT_ELEMENTS, modelKind, weightByteLength, type WeightSpec } from './format.js';

/** The shard paths of a manifest, checked to stay inside the model's folder. */
export function manifestPaths(json: Record<string, unknown>, where: string): string[] {
  const fix = 'Save the model with TF.js `model.save()` or tensorflowjs_converter.';
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where} is not a TF.js model.json: it has no \`modelTopology\` object. ${fix}`,
    );
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where} is not a TF.js model.json: it has no \`weightsManifest\` list. ${fix}`,
    );
  }
  const paths: string[] = [];
  for (const [g, group] of manifest.entries()) {
    const groupPaths = (group as { paths?: unknown })?.paths;
    const weights = (group as { weights?: unknown })?.weights;
    if (!Array.isArray(groupPaths) || !Array.isArray(weights) || !groupPaths.every((p) => typeof p === 'string')) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: weightsManifest[${g}] needs a \`paths\` list of file names and a \`weights\` list. ${fix}`,
      );
    }
    for (const p of groupPaths) {
      const norm = normalize(p);
      // A URL (https:, file:, data:) would be fetched by a browser loader; mcbuild reads only local files
      // next to model.json, and says so rather than trying a path named "https:".
      const url = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(p);
      if (
        p === '' ||
        p.includes('\0') ||
        url ||
        isAbsolute(p) ||
        /(^|[\\/])\.\.([\\/]|$)/.test(p) ||
        norm.startsWith(`..${sep}`) ||
        norm === '..' ||
        relative('.', norm).startsWith('..')
      ) {
        throw outsideFolder(where, p);
      }
      paths.push(p);
    }
  }
  return paths;
}

/**
 * What the TF.js loaders would trip over later with a stack instead of a message (run after groupBytes, which
 * checked each weight has a name, shape and dtype): a shard listed twice (its bytes would be read twice, giving
 * every later weight wrong values), a weight name listed twice, a complex64 weight (no mcbuild pass or wasm
 * kernel handles it), and in a layers model a weight that is not float32 (layer variables are float32;
 * quantized weights keep `"dtype": "float32"` and name their storage in `quantization`).
 */
export function checkWeightList(json: Record<string, unknown>, where: string): void {
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  const layers = modelKind(json) === 'layers';
  const paths = new Set<string>();
  const names = new Set<string>();
  for (const group of manifest) {
    for (const p of group.paths) {
      const key = normalize(p);
      if (paths.has(key))
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight shard ${JSON.stringify(p)} is listed twice in weightsManifest; each shard holds its own bytes and is listed once. Export the model again.`,
        );
      paths.add(key);
    }
    for (const spec of group.weights) {
      if (names.has(spec.name))
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} is listed twice in weightsManifest; every weight has one entry. Export the model again.`,
        );
      names.add(spec.name);
      const dtype = spec.quantization?.dtype ?? spec.dtype;
      if (dtype === 'complex64')
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} has dtype complex64, which mcbuild cannot read (float32, int32, bool, uint8, uint16, float16 and the packed int8, int4 and int2 are supported).`,
        );
      if (layers && spec.dtype !== 'float32')
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} of this layers model has dtype ${spec.dtype}; layer weights are float32 (a quantized weight keeps \`"dtype": "float32"\` and names its storage type in \`quantization\`). Export the model again.`,
        );
    }
  }
}

export function outsideFolder(where: string, p: string): McbError {
  return new McbError(
    'MCB_MODEL_INVALID',
    `${where}: weight shard path ${JSON.stringify(p)} points outside the model's folder (an absolute path, a URL or a \`..\`); shard paths must be plain file names next to model.json, as TF.js \`model.save()\` writes them.`,
  );
}

export function shardSizeError(
  where: string,
  g: number,
  paths: readonly string[],
  sizes: readonly number[],
  expected: number,
): McbError {
  const actual = sizes.reduce((a, b) => a + b, 0);
  const files = paths.map((p, i) => `${p} (${sizes[i]} bytes)`).join(', ');
  return new McbError(
    'MCB_MODEL_INVALID',
    `${where}: the weight shards of group ${g + 1} (${files}) hold ${actual} bytes but its weights need ${expected} (${actual < expected ? `${expected - actual} bytes short: a shard is truncated` : `${actual - expected} bytes too many: a shard is from another model`}). Export the model again.`,
  );
}

/**
 * A weight's shape, checked before its byte length is trusted: non-negative integer dimensions whose product
 * stays below TF.js's int32 limit. Without this a shape of [1e10, 1e10] or [-1, 4] turns into a bogus byte
 * count (or an allocation attempt) far from the model.json that caused it.
 */
function checkShape(spec: WeightSpec, g: number, where: string): void {
  const dims = spec.shape as unknown[];
  let elements = 1;
  for (const d of dims) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: weight ${JSON.stringify(spec.name)} in weightsManifest[${g}] has shape ${JSON.stringify(dims)}; every dimension must be a non-negative integer. The model.json is damaged; export the model again.`,
      );
    }
    elements *= d;
  }
  if (dims.length > 8 || elements > MAX_WEIGHT_ELEMENTS) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where}: weight ${JSON.stringify(spec.name)} in weightsManifest[${g}] has shape ${JSON.stringify(dims)}, ${dims.length > 8 ? `${dims.length} dimensions (TF.js weights have at most 8)` : `${elements} elements (at most ${MAX_WEIGHT_ELEMENTS}, TF.js's limit)`}. The model.json is damaged or not a TF.js model.`,
    );
  }
}

/** Bytes each manifest group's weights need, every weight spec checked (names, shapes, dtypes) on the way. */
export function groupBytes(json: Record<string, unknown>, where: string): number[] {
  manifestPaths(json, where);
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  let total = 0;
  const out = manifest.map((group, g) => {
    let expected = 0;
    for (const spec of group.weights) {
      if (
        typeof spec !== 'object' ||
        spec === null ||
        typeof spec.name !== 'string' ||
        !Array.isArray(spec.shape) ||
        typeof spec.dtype !== 'string'
      ) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weightsManifest[${g}] has a weight without name, shape and dtype.`,
        );
      }
      checkShape(spec, g, where);
      try {
        expected += weightByteLength(spec);
      } catch (e) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} has dtype ${spec.quantization?.dtype ?? spec.dtype}, which mcbuild cannot read (${e instanceof Error ? e.message : String(e)}; float32, int32, bool, uint8, uint16, float16 and the packed int8, int4 and int2 are supported).`,
        );
      }
    }
    total += expected;
    return expected;
  });
  if (!Number.isSafeInteger(total) || total > MAX_WEIGHT_BYTES) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where}: the weights manifest lists ${total} bytes of weights; mcbuild reads at most ${MAX_WEIGHT_BYTES} bytes (2 GiB) of weights. The model.json is damaged, or the model is too large for TF.js.`,
    );
  }
  return out;
}
