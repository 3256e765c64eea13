/**
 * Which TF.js backend a build uses, decided before any TF.js code is loaded: the backend is part of the key
 * of every step whose numbers depend on it, and planning must stay engine-free. Availability is judged
 * from installed files; loading happens later, in runtime.ts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { McbError } from '../errors.js';
import type { Backend, BackendChoice } from '../recipe/index.js';
import { packageVersion } from '../version.js';

const require = createRequire(import.meta.url);

/** The native packages that provide the 'tensorflow' backend, preferred in this order. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The first tfjs-node flavour whose native binding is actually on disk (an install that failed leaves none). */
export function installedNativePackage(): string | undefined {
  for (const name of NATIVE_PACKAGES) {
    try {
      const root = dirname(require.resolve(`${name}/package.json`));
      if (existsSync(join(root, 'lib')) && hasBinding(join(root, 'lib'))) return name;
    } catch {
      /* not installed */
    }
  }
  return undefined;
}

function hasBinding(libDir: string): boolean {
  try {
    // lib/napi-v<N>/tfjs_binding.node
    return readdirSync(libDir).some((d) => existsSync(join(libDir, d, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

export function resolveBackend(choice: BackendChoice): Backend {
  if (choice === 'tensorflow') {
    if (!installedNativePackage()) {
      throw new McbError(
        'MCB_BACKEND',
        'backend "tensorflow" was asked for, but neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu is installed with its native library. Install one (`npm install @tensorflow/tfjs-node@4.22.0`), or use --backend wasm.',
      );
    }
    return 'tensorflow';
  }
  if (choice === 'wasm') {
    if (!packageVersion('@tensorflow/tfjs-backend-wasm')) {
      throw new McbError(
        'MCB_BACKEND',
        'backend "wasm" was asked for, but @tensorflow/tfjs-backend-wasm is not installed. Run `npm ci`, or use --backend cpu.',
      );
    }
    return 'wasm';
  }
  if (choice === 'cpu') return 'cpu';
  if (installedNativePackage()) return 'tensorflow';
  if (packageVersion('@tensorflow/tfjs-backend-wasm')) return 'wasm';
  return 'cpu';
}

/**
 * Bump when src/engine/kernels changes what a kernel computes: on wasm, training and evaluation run through
 * mcbuild's own kernels, so their version is part of the numerics just like the TF.js packages'.
 */
export const WASM_KERNELS_VERSION = '4';

/** Versions of the packages whose numerics a step's results depend on, for its key and the report. */
export function enginePackages(backend: Backend): Record<string, string> {
  const names = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-converter'];
  if (backend === 'wasm') names.push('@tensorflow/tfjs-backend-wasm');
  if (backend === 'cpu') names.push('@tensorflow/tfjs-backend-cpu');
  if (backend === 'tensorflow') names.push(installedNativePackage()!);
  const versions = Object.fromEntries(names.map((n) => [n, packageVersion(n) ?? 'missing']));
  return backend === 'wasm' ? { ...versions, 'mcbuild-wasm-kernels': WASM_KERNELS_VERSION } : versions;
}
