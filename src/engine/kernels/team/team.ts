/**
 * Threads for mcbuild's own wasm kernels. XNNPACK splits convolutions and matMuls over the wasm backend's pthread
 * pool, but every other kernel runs on the main thread: at 2 threads the inference batch norm of a 224×224
 * MobileNetV2 layers model was 64% of its evaluation time. A team is the main thread plus `size − 1` worker
 * threads that run the wasm SIMD loops of ./simd.wat on the backend's own heap (the threaded binary's memory is
 * a SharedArrayBuffer, which every thread can instantiate the loops on), so a kernel can run its loop in parts
 * side by side, with no copy in or out.
 *
 * A kernel hands the team one argument list per part: byte addresses in the heap and counts. Part 0 runs on the
 * calling thread, the others on the workers; `run` returns when all are done. Kernels split their work so that
 * each value is computed by the same loop in the same way at any team size (./shares): results are bit-identical
 * at any thread count.
 *
 * Workers wait on an atomic between kernels (tens of µs to wake), start on the first kernel that has more than
 * one part, and are unref'd, so a process exits when its work is done as with one thread. With one thread, or
 * the single-threaded binary, the team has no workers and runs the parts one after the other.
 *
 * Tried and left out, on 2 cores: training's JavaScript loops (batch norm, activation gradients) split the same
 * way were no faster (their tensors, ~100k values, take ~1 ms, and the worker woke late while XNNPACK's pool
 * threads spun on the other core after each convolution); ReLU6 as a split SIMD loop was no faster than the wasm
 * ClipByValue on one thread (both are bound by memory bandwidth, as batch norm nearly is at 2 threads: 1.4x).
 */
import { Worker } from 'node:worker_threads';
import { SIMD_SHARED, SIMD_UNSHARED } from './simd-binary.js';

/** The exports of ./simd.wat: loops over the heap, taking byte addresses and counts. */
export const LOOPS = [
  'batchNormInference',
  'columnSums',
  'scaleShiftRows',
  'batchNormInputGrad',
  'reluMaxGrad',
] as const;
export type LoopName = (typeof LOOPS)[number];

/** Layout of the control block shared with the workers: three int32s, then one slot of float64s per worker. */
const GENERATION = 0;
const PENDING = 1;
const FAILED = 2;
const HEADER_BYTES = 64;
/** Float64s per worker: the loop (−1: none), the argument count, the arguments. */
const SLOTS = 16;
const MAX_WORKERS = 8;
const MESSAGE_BYTES = 1024;

/** What we use of WebAssembly (the typings here have no WebAssembly namespace). */
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
type WasmModule = object;
type Loops = Record<LoopName, (...args: number[]) => void>;
const WebAssembly = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => WasmModule;
      Instance: new (module: WasmModule, imports: object) => { exports: Loops };
    };
  }
).WebAssembly;

const compiled: Partial<Record<'shared' | 'unshared', WasmModule>> = {};

/**
 * ./simd.wat built for a memory of this sharing (WebAssembly refuses an import whose sharing differs), compiled
 * once per process.
 */
function simdModule(shared: boolean): WasmModule {
  const kind = shared ? 'shared' : 'unshared';
  return (compiled[kind] ??= new WebAssembly.Module(Buffer.from(shared ? SIMD_SHARED : SIMD_UNSHARED, 'base64')));
}

const instantiate = (memory: WasmMemory): Loops =>
  new WebAssembly.Instance(simdModule(memory.buffer instanceof SharedArrayBuffer), { env: { memory } }).exports;

export interface Team {
  /** Threads the team runs parts on, the caller's included. */
  readonly size: number;
  /** Parts run by worker threads so far (the tests check that they do run). */
  readonly workerParts: number;
  /** Runs `loop` once per argument list, side by side; returns when all have run. */
  run(loop: LoopName, parts: readonly (readonly number[])[]): void;
}

/**
 * [begin, end) ranges covering [0, total): as many as the team has threads, but none smaller than `grain`, so
 * small tensors are not worth a wake-up.
 */
export function shares(team: Team, total: number, grain: number): [number, number][] {
  const count = Math.max(1, Math.min(team.size, Math.floor(total / Math.max(grain, 1))));
  return Array.from({ length: count }, (_, i) => [
    Math.round((total * i) / count),
    Math.round((total * (i + 1)) / count),
  ]);
}

/** The parts one after the other on the calling thread. */
class Alone implements Team {
  readonly size = 1;
  readonly workerParts = 0;
  private readonly loops: Loops;

  constructor(memory: WasmMemory) {
    this.loops = instantiate(memory);
  }

  run(loop: LoopName, parts: readonly (readonly number[])[]): void {
    for (const args of parts) this.loops[loop](...args);
  }
}

class Threads implements Team {
  private readonly control = new SharedArrayBuffer(HEADER_BYTES + MAX_WORKERS * SLOTS * 8 + MESSAGE_BYTES);
  private readonly ctrl = new Int32Array(this.control, 0, HEADER_BYTES / 4);
  private readonly slots = new Float64Array(this.control, HEADER_BYTES, MAX_WORKERS * SLOTS);
  private readonly message = new Uint8Array(this.control, HEADER_BYTES + MAX_WORKERS * SLOTS * 8, MESSAGE_BYTES);
  private readonly loops: Loops;
  private workers: Worker[] = [];
  workerParts = 0;

  constructor(
    readonly size: number,
    private readonly memory: WasmMemory,
  ) {
    this.loops = instantiate(memory);
  }

  run(loop: LoopName, parts: readonly (readonly number[])[]): void {
    const rest = parts.slice(1);
    if (rest.length === 0) {
      if (parts[0]) this.loops[loop](...parts[0]);
      return;
    }
    this.start();
    for (let w = 0; w < this.workers.length; w++) {
      const args = rest[w];
      let i = w * SLOTS;
      this.slots[i++] = args ? LOOPS.indexOf(loop) : -1;
      this.slots[i++] = args?.length ?? 0;
      for (const a of args ?? []) this.slots[i++] = a;
    }
    Atomics.store(this.ctrl, FAILED, 0);
    Atomics.store(this.ctrl, PENDING, this.workers.length);
    Atomics.add(this.ctrl, GENERATION, 1);
    Atomics.notify(this.ctrl, GENERATION);
    this.loops[loop](...parts[0]!);
    for (let pending = Atomics.load(this.ctrl, PENDING); pending !== 0; pending = Atomics.load(this.ctrl, PENDING)) {
      Atomics.wait(this.ctrl, PENDING, pending);
    }
    this.workerParts += rest.length;
    if (Atomics.load(this.ctrl, FAILED) !== 0) {
      const text = new TextDecoder().decode(this.message.slice()).replace(/\0+$/, '');
      throw new Error(`a kernel thread failed in ${loop}: ${text}`);
    }
  }

  private start(): void {
    if (this.workers.length) return;
    for (let w = 0; w < Math.min(this.size, MAX_WORKERS + 1) - 1; w++) {
      const worker = new Worker(WORKER, {
        eval: true,
        workerData: { index: w, control: this.control, memory: this.memory, simd: simdModule(true) },
        name: `mcbuild kernel thread ${w + 1}`,
      });
      worker.unref();
      this.workers.push(worker);
    }
  }
}

/**
 * The workers' script: the loops instantiated on the backend's memory, and a loop that waits for the next
 * generation, runs its part and counts itself done. Every worker starts at generation 0, so one that comes up
 * after the first kernel was posted runs it at once.
 */
const WORKER = `'use strict';
const { workerData } = require('node:worker_threads');
const { index, control, memory, simd } = workerData;
const exports_ = new WebAssembly.Instance(simd, { env: { memory } }).exports;
const LOOPS = ${JSON.stringify(LOOPS)}.map((name) => exports_[name]);
const ctrl = new Int32Array(control, 0, ${HEADER_BYTES / 4});
const slots = new Float64Array(control, ${HEADER_BYTES}, ${MAX_WORKERS * SLOTS});
const message = new Uint8Array(control, ${HEADER_BYTES + MAX_WORKERS * SLOTS * 8}, ${MESSAGE_BYTES});
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${GENERATION}, seen);
  seen = Atomics.load(ctrl, ${GENERATION});
  const at = index * ${SLOTS};
  try {
    if (slots[at] >= 0) LOOPS[slots[at]](...slots.subarray(at + 2, at + 2 + slots[at + 1]));
  } catch (e) {
    message.fill(0);
    message.set(new TextEncoder().encode(String((e && e.stack) || e)).subarray(0, ${MESSAGE_BYTES}));
    Atomics.store(ctrl, ${FAILED}, 1);
  }
  if (Atomics.sub(ctrl, ${PENDING}, 1) === 1) Atomics.notify(ctrl, ${PENDING});
}
`;

let teamSize = 1;
let current: { memory: WasmMemory; team: Team } | undefined;

/** How many threads kernels may use: the wasm pool's size, set when the engine starts (../../runtime.ts). */
export function setKernelThreads(threads: number): void {
  teamSize = Math.max(1, Math.floor(threads));
  current = undefined;
}

/**
 * The team for this wasm backend: threads as set by setKernelThreads when the backend's memory is shared (the
 * threaded binary), else the caller alone; undefined when the backend's memory cannot be found (the kernels
 * then keep the wasm backend's own).
 */
export function teamFor(backend: unknown): Team | undefined {
  // The threaded binary keeps its memory on the module, the single-threaded one among its exports.
  const module = (backend as { wasm?: { wasmMemory?: WasmMemory; asm?: { memory?: WasmMemory } } }).wasm;
  const memory = module?.wasmMemory ?? module?.asm?.memory;
  if (memory === undefined) return undefined;
  if (current !== undefined && current.memory === memory) return current.team;
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const team = teamSize > 1 && shared ? new Threads(teamSize, memory) : new Alone(memory);
  current = { memory, team };
  return team;
}

/** teamFor, for kernels that have no fallback: they need the SIMD loops, which need the backend's memory. */
export function requiredTeam(backend: unknown): Team {
  const team = teamFor(backend);
  if (team === undefined)
    throw new Error('the wasm backend exposes no memory for mcbuild’s kernels (tfjs-backend-wasm changed?).');
  return team;
}
