import { cluster } from './cluster/index.js';
import { distill } from './distill/index.js';
import { encode } from './encode/index.js';
import { finetune } from './finetune/index.js';
import { foldBatchnorm } from './fold-batchnorm/index.js';
import { lowrank } from './lowrank/index.js';
import { prune } from './prune/index.js';
import { pruneChannels } from './prune-channels/index.js';
import { quantize } from './quantize/index.js';
import { shard } from './shard/index.js';
import type { PassDefinition } from './types.js';

export type {
  BuiltinArchitecture,
  LayerOptions,
  OptionsPlace,
  PassContext,
  PassData,
  PassDefinition,
  PassInput,
  PassResult,
} from './types.js';
export { optionsByLayer } from './types.js';

/** Every pass mcbuild knows, by recipe name. Adding a pass = adding its file and one line here. */
export const PASSES: Readonly<Record<string, PassDefinition<object>>> = {
  quantize: quantize as PassDefinition<object>,
  shard: shard as PassDefinition<object>,
  finetune: finetune as PassDefinition<object>,
  cluster: cluster as PassDefinition<object>,
  prune: prune as PassDefinition<object>,
  encode: encode as PassDefinition<object>,
  'fold-batchnorm': foldBatchnorm as PassDefinition<object>,
  distill: distill as PassDefinition<object>,
  lowrank: lowrank as PassDefinition<object>,
  'prune-channels': pruneChannels as PassDefinition<object>,
};

export function getPass(name: string): PassDefinition<object> | undefined {
  return Object.hasOwn(PASSES, name) ? PASSES[name] : undefined;
}
