/**
 * Replacing a kernel the wasm backend already has, for shapes where its implementation is slow, while keeping it for
 * the cases the replacement does not cover.
 *
 * The replaced kernel is captured when the replacement is registered, and its setupFunc/disposeFunc are forwarded:
 * wasm kernels bind their C++ entry points in setupFunc, which TF.js calls only for kernels registered when the
 * backend initialises, so without forwarding the captured kernel would be unusable if registration happens first
 * (as it does in loadEngine).
 */
import type {
  DataType,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs';

export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

export type KernelResult = TensorInfo | TensorInfo[];

/** The parts of the wasm backend the JS kernels use; BackendWasm is not part of the public typings of tfjs. */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export interface WasmOverride {
  readonly config: KernelConfig;
  /** Records the kernel being replaced (undefined if there is none), used for the cases the override declines. */
  bind(original: KernelConfig | undefined): void;
}

export function wasmOverride(
  kernelName: string,
  fast: (args: KernelArgs, fallback: (args: KernelArgs) => KernelResult) => KernelResult,
): WasmOverride {
  let original: KernelConfig | undefined;
  const fallback = (args: KernelArgs): KernelResult => {
    if (original === undefined)
      throw new Error(`${kernelName} on wasm: this case needs the backend's own kernel, which is not registered.`);
    return original.kernelFunc(args as Parameters<KernelFunc>[0]);
  };
  const config: KernelConfig = {
    kernelName,
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => fast(args, fallback),
    setupFunc: (backend) => original?.setupFunc?.(backend),
    disposeFunc: (backend) => original?.disposeFunc?.(backend),
  };
  return {
    config,
    bind(o) {
      // Re-binding to ourselves (a second registration) would make the fallback recurse forever.
      if (o?.kernelFunc !== config.kernelFunc) original = o;
    },
  };
}
