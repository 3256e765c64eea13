/** Batch sizes latency is measured at when `runtime.latency.batchSizes` does not say. */
export const LATENCY_BATCHES = [1, 32] as const;
