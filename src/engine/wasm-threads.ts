/**
 * Multi-threaded wasm in Node. tfjs-backend-wasm 4.22 ships a threaded SIMD binary (emscripten pthreads + XNNPACK's
 * pthreadpool) but never uses it in Node, for three reasons this module works around without patching the package:
 *
 * 1. Its WASM_HAS_MULTITHREAD_SUPPORT flag answers false under Node: we set the flag (a documented tfjs option).
 * 2. Its locateFile hands emscripten the pthread worker script as a blob: URL and the glue as a Blob, which Node's
 *    worker_threads refuse (ERR_WORKER_PATH): the glue starts its workers with the global `Worker`, so we give it a
 *    worker_threads.Worker that runs the worker script as source (`eval: true`, with the `\n` escapes tfjs keeps
 *    for its Blob) and tells the worker to load the glue from its file in the package.
 * 3. Why the pool stayed at one thread once workers started: backend.cc caps the XNNPACK pool at
 *    `emscripten_num_logical_cores() / 2` (it assumes hyper-threading), read once when the module starts, and in
 *    Node that is `os.cpus().length / 2`, so 1 on a 2-core machine whatever setThreadsCount asked for. We make
 *    os.cpus() report twice the threads asked for while the module starts, and put it back right after.
 *
 * One thread keeps the path of before exactly: the single-threaded SIMD binary, no workers, nothing patched.
 * XNNPACK splits work over output tiles, each computed whole by one thread in the same order, so results are
 * bit-identical at any thread count (test/engine/wasm-threads.test.ts checks it on every kind of kernel we use).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { Worker as NodeWorker, type TransferListItem, type WorkerOptions } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs';
import type * as TFWasm from '@tensorflow/tfjs-backend-wasm';
import { McbError } from '../errors.js';

type Tf = typeof TF;
type WasmModule = Pick<typeof TFWasm, 'setThreadsCount' | 'getThreadsCount'>;

const require = createRequire(import.meta.url);

/**
 * The threaded binary pre-starts 8 pthread workers and backend.cc caps its pool at 8 threads: more would be
 * allocated on demand from inside a kernel call, which Node cannot serve while the main thread waits.
 */
export const MAX_WASM_THREADS = 8;

/** The env var that sets the thread count where no option does (workers, tests, the bench's children). */
export const THREADS_ENV = 'MCBUILD_THREADS';

/**
 * The number of threads the wasm backend runs: `requested` if given, else MCBUILD_THREADS, else the cores
 * available to this process; at most MAX_WASM_THREADS.
 */
export function wasmThreadCount(requested?: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[THREADS_ENV];
  let n = requested;
  if (n === undefined && raw !== undefined && raw !== '') {
    n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new McbError(
        'MCB_USAGE',
        `the environment variable ${THREADS_ENV} must be a whole number of threads ≥ 1 (got ${JSON.stringify(raw)}). Set it to e.g. ${THREADS_ENV}=1 for one thread, or unset it to use every core.`,
      );
    }
  }
  return Math.min(n ?? os.availableParallelism(), MAX_WASM_THREADS);
}

/**
 * Sets the wasm backend up with `threads` threads (tf.setBackend('wasm') + tf.ready()) and returns the number
 * its pool really has. If the threaded binary cannot start here, falls back to the single-threaded one.
 */
export async function startWasm(tf: Tf, wasm: WasmModule, threads: number): Promise<number> {
  if (threads > 1) {
    let undo = () => {};
    try {
      // A package without the threaded binary's files fails here: one thread, as on a browser without them.
      undo = prepareThreads(tf, wasm, threads);
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return settle(tf, wasm);
      }
    } catch {
      /* fall back below */
    } finally {
      undo();
    }
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasm.setThreadsCount(-1); // tfjs's own default, as if never set
  }
  if (!(await tf.setBackend('wasm'))) return 0;
  await tf.ready();
  return 1;
}

let workerSource: string | undefined;

/**
 * What emscripten's glue starts its pthread workers with in place of a browser Worker: the same worker, started
 * from source, loading the glue from its file.
 */
class PthreadWorker extends NodeWorker {
  constructor(url: string | URL, options?: WorkerOptions) {
    if (String(url).startsWith('blob:') && workerSource !== undefined) super(workerSource, { ...options, eval: true });
    else super(url, options);
  }

  override postMessage(message: unknown, transferList?: readonly TransferListItem[]): void {
    const m = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
    // 'load' carries the glue for the worker's importScripts, which in Node reads a file path, not a Blob.
    if (m?.cmd === 'load' && typeof m.urlOrBlob !== 'string') message = { ...m, urlOrBlob: gluePath() };
    super.postMessage(message, transferList);
  }
}

function packageDir(): string {
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

function gluePath(): string {
  return join(packageDir(), 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
}

/** Everything the threaded binary needs before tf.setBackend('wasm'); returns what puts os.cpus back. */
function prepareThreads(tf: Tf, wasm: WasmModule, threads: number): () => void {
  const { wasmWorkerContents } = require(
    join(packageDir(), 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as {
    wasmWorkerContents: string;
  };
  // tfjs escapes the same way before making its Blob: the script has "\n" inside string literals.
  workerSource = wasmWorkerContents.replace(/\n/g, '\\n');
  // The glue assigns worker_threads.Worker to the global when it starts; the no-op setter keeps ours.
  Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => PthreadWorker, set: () => {} });
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const cpus = os.cpus;
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]!);
  };
  return () => {
    os.cpus = cpus;
    // Later pthreads (none with a pool of ≤ 8) would still find ours; anyone may now replace it.
    Object.defineProperty(globalThis, 'Worker', { configurable: true, writable: true, value: PthreadWorker });
  };
}

interface PThreadState {
  runningWorkers: NodeWorker[];
}

/**
 * The pool's threads wait on an atomic between kernels, and emscripten keeps a running pthread's worker ref'd:
 * unref them so that the process exits when its work is done, as it does on one thread.
 */
function settle(tf: Tf, wasm: WasmModule): number {
  const backend = tf.backend() as unknown as { wasm?: { PThread?: PThreadState } };
  for (const w of backend.wasm?.PThread?.runningWorkers ?? []) w.unref();
  return wasm.getThreadsCount();
}
