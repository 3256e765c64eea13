/**
 * Reads and checks a model folder on disk (model.json and the shards its manifest lists) without TF.js.
 * Everything a hostile or damaged model.json could claim is checked before it is allocated or read.
 */
import { isKeras3Topology, keras2Topology, keras2WeightNames } from './keras3.js';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { fromParsedJson } from './files.js';
import { MAX_MODEL_JSON_BYTES, MAX_MODEL_JSON_DEPTH, modelKind, type StoredModel } from './format.js';
import { checkWeightList, groupBytes, manifestPaths, outsideFolder, shardSizeError } from './manifest.js';

/**
 * Reads and checks a model.json and its shards from disk. Anything that is not a well-formed TF.js model
 * is an McbError naming the file and what is wrong, so a bad model never reaches TF.js's own errors.
 */
export async function readModelDir(modelJsonPath: string): Promise<{ model: StoredModel; digest: string }> {
  let text: string;
  try {
    const s = await stat(modelJsonPath);
    if (s.isDirectory()) {
      throw new McbError(
        'MCB_MODEL_NOT_FOUND',
        `model path ${modelJsonPath} is a directory; point \`model.path\` at the model.json inside it.`,
      );
    }
    // A device or FIFO (/dev/zero, /dev/stdin) has no size to check and may never end: regular files only.
    if (!s.isFile())
      throw new McbError(
        'MCB_MODEL_INVALID',
        `model path ${modelJsonPath} is not a regular file; point \`model.path\` at a model.json.`,
      );
    if (s.size > MAX_MODEL_JSON_BYTES) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${modelJsonPath} is ${s.size} bytes; a model.json may be at most ${MAX_MODEL_JSON_BYTES} bytes (the weights belong in the .bin shards it lists). Check that \`model.path\` names the model's model.json.`,
      );
    }
    text = await readFile(modelJsonPath, 'utf8');
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_MODEL_NOT_FOUND',
      `model file ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Fix \`model.path\` (it is relative to the recipe file), or train a builtin architecture with \`model.train\`.`,
    );
  }
  const depth = jsonDepth(text);
  if (depth > MAX_MODEL_JSON_DEPTH) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${modelJsonPath} nests its JSON more than ${MAX_MODEL_JSON_DEPTH} levels deep; TF.js model.json files are a few levels deep. This is not a model file mcbuild will read.`,
    );
  }
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
    // Keras 3's config in the Keras 2 form stock TF.js loads; the digest below still covers the bytes read.
    if (modelKind(json) === 'layers' && isKeras3Topology(json.modelTopology))
      json = {
        ...json,
        modelTopology: keras2Topology(json.modelTopology),
        weightsManifest: keras2WeightNames(json.modelTopology, json.weightsManifest),
      };
  } catch (e) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${modelJsonPath} is not a TF.js model.json: it is not a JSON object (${e instanceof Error ? e.message : String(e)}). Save the model with TF.js \`model.save()\` or tensorflowjs_converter.`,
    );
  }
  if (modelKind(json) === 'layers') checkLayerNames(json.modelTopology, modelJsonPath);
  const dir = dirname(modelJsonPath);
  // The digest covers the exact bytes read (model.json, then each shard in manifest order): it is what the
  // load step's key trusts.
  const hash = createHash('sha256').update(text);
  const shards = new Map<string, Uint8Array>();
  // Sizes first, from the manifest and the file system: a shard longer or shorter than the weights need is
  // refused before it is read, so a multi-gigabyte file named in a manifest is never loaded.
  const expected = groupBytes(json, modelJsonPath);
  checkWeightList(json, modelJsonPath);
  const manifest = json.weightsManifest as { paths: string[] }[];
  for (const [g, group] of manifest.entries()) {
    const sizes: number[] = [];
    for (const path of group.paths) {
      const full = resolve(dir, path);
      if (!isInside(dir, full)) throw outsideFolder(modelJsonPath, path);
      try {
        const st = await stat(full);
        sizes.push(st.isFile() ? st.size : Number.NaN);
      } catch (e) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight shard ${path} listed in ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'is missing' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Copy every .bin file that model.json lists next to it.`,
        );
      }
    }
    const bad = sizes.findIndex((n) => Number.isNaN(n));
    if (bad >= 0)
      throw new McbError(
        'MCB_MODEL_INVALID',
        `weight shard ${group.paths[bad]!} listed in ${modelJsonPath} is not a regular file. Copy every .bin file that model.json lists next to it.`,
      );
    const actual = sizes.reduce((a, b) => a + b, 0);
    if (actual !== expected[g]) throw shardSizeError(modelJsonPath, g, group.paths, sizes, expected[g]!);
  }
  for (const path of manifestPaths(json, modelJsonPath)) {
    const full = resolve(dir, path);
    try {
      const bytes = new Uint8Array(await readFile(full));
      hash.update(`\0${path}\0`).update(bytes);
      shards.set(path, bytes);
    } catch (e) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `weight shard ${path} listed in ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'is missing' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Copy every .bin file that model.json lists next to it.`,
      );
    }
  }
  return { model: fromParsedJson(json, (path) => shards.get(path)!, modelJsonPath), digest: hash.digest('hex') };
}

function isInside(dir: string, full: string): boolean {
  const rel = relative(dir, full);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** TF.js's own rule for tensor names (tfjs-layers common.ts); a layer name outside it fails deep in TF.js. */
const TENSOR_NAME = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

/** Layer names TF.js would refuse ("Not a valid tensor name"), reported with the file instead. */
function checkLayerNames(topology: unknown, where: string): void {
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const n = node as { model_config?: unknown; config?: unknown };
    if (n.model_config !== undefined) return visit(n.model_config);
    const config = n.config as { layers?: unknown } | unknown[] | undefined;
    const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
    if (!Array.isArray(layers)) return;
    for (const [i, layer] of (layers as { config?: { name?: unknown } }[]).entries()) {
      const name = layer?.config?.name;
      if (name !== undefined && (typeof name !== 'string' || !TENSOR_NAME.test(name))) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: layer ${i} is named ${JSON.stringify(name)}, which TF.js cannot load (a layer name starts with a letter or digit and uses only letters, digits, -, ., _ and /). Rename the layer and save the model again.`,
        );
      }
      visit(layer);
    }
  };
  visit(topology);
}

/** Nesting depth of a JSON text, skipping strings; linear, and it never recurses. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
