/**
 * NumPy .npz archives (`dataset: npz`): a zip of .npy members, one per array (np.savez stores them,
 * np.savez_compressed deflates them; numpy writes zip64 records either way). fflate reads the zip; the
 * members are parsed by src/data/npy.ts.
 */
import { unzipSync } from 'fflate';
import { McbError } from '../errors.js';
import type { NpzDataSpec } from '../recipe/index.js';
import { ContentDigest, readDataFile } from './files.js';
import { arraysFacts, arraysToDataset, parseNpy, type NpyArray } from './npy.js';
import type { Dataset, DatasetFacts } from './types.js';

interface NpzArrays {
  x: NpyArray;
  xName: string;
  y?: NpyArray;
  yName?: string;
  digest: string;
}

async function readNpz(spec: NpzDataSpec): Promise<NpzArrays> {
  const bytes = await readDataFile(spec.path, '`path`:');
  // The archive's bytes: the array names chosen are in the step key with the rest of the spec.
  const digest = new ContentDigest().add('npz', bytes).hex();
  const unzip = (filter: (name: string) => boolean) => {
    try {
      return unzipSync(bytes, { filter: (f) => filter(f.name) });
    } catch (e) {
      throw new McbError(
        'MCB_DATASET',
        `${spec.path} is not a readable .npz archive (${e instanceof Error ? e.message : String(e)}). Write it with np.savez or np.savez_compressed; a download or copy may have been cut short.`,
        { cause: e },
      );
    }
  };
  // First only the member names (nothing is inflated), then just the arrays used.
  const names: string[] = [];
  unzip((name) => {
    names.push(name);
    return false;
  });
  const arrays = names.filter((n) => n.endsWith('.npy')).map((n) => n.slice(0, -4));
  const has = (a: string) => arrays.includes(a);
  const listed = arrays.length ? arrays.map((a) => JSON.stringify(a)).join(', ') : 'none';
  if (!has(spec.x)) {
    throw new McbError(
      'MCB_DATASET',
      `${spec.path} has no array ${JSON.stringify(spec.x)} for the inputs (its arrays: ${listed}); set \`x:\` to the name of the inputs' array.`,
    );
  }
  if (spec.y !== undefined && !has(spec.y)) {
    throw new McbError(
      'MCB_DATASET',
      `${spec.path} has no array ${JSON.stringify(spec.y)} for the labels (its arrays: ${listed}); set \`y:\` to the labels' array, or remove it for label-free data.`,
    );
  }
  // `y` defaults to an array named y when there is one; `labels: false` reads none.
  const yName = spec.labels === false ? undefined : (spec.y ?? (has('y') && spec.x !== 'y' ? 'y' : undefined));
  const wanted = new Set([`${spec.x}.npy`, ...(yName ? [`${yName}.npy`] : [])]);
  const files = unzip((name) => wanted.has(name));
  const member = (a: string) => parseNpy(files[`${a}.npy`]!, `${spec.path} (array ${JSON.stringify(a)})`);
  return {
    x: member(spec.x),
    xName: `${spec.path} (array ${JSON.stringify(spec.x)})`,
    ...(yName ? { y: member(yName), yName: `${spec.path} (array ${JSON.stringify(yName)})` } : {}),
    digest,
  };
}

export async function loadNpz(spec: NpzDataSpec, where: string): Promise<Dataset> {
  const a = await readNpz(spec);
  const name = `npz:${spec.path.split(/[\\/]/).pop()}/${spec.x}${spec.limit === undefined ? '' : `[:${spec.limit}]`}`;
  return { ...arraysToDataset(name, a.x, a.xName, a.y, a.yName, spec, where), digest: a.digest };
}

export async function npzFacts(spec: NpzDataSpec, where: string): Promise<DatasetFacts> {
  const a = await readNpz(spec);
  return arraysFacts(a.x, a.xName, a.y, a.yName, spec, a.digest, where);
}
