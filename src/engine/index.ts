// TF.js-free parts only: importing this module never loads TF.js. The TF.js side is reached through
// loadEngine() (and the modules that take its `tf`), imported dynamically by the executor.
export { enginePackages, installedNativePackage, resolveBackend } from './backend.js';
export {
  architectureMisfit,
  ARCHITECTURE_NAMES,
  LENET5_DEFAULTS,
  MLP_DEFAULTS,
  MOBILENET_DEFAULT_ALPHA,
} from './architectures/index.js';
// The stored model format is src/model/'s (issue 18). Re-exported for test/passes/prune.test.ts only, which
// another branch is changing; import from src/model/ instead, and drop this line once that test does.
export { readModelDir, type StoredModel } from '../model/index.js';
