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
