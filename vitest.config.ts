import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// TF.js work is CPU-bound and these machines have 2 cores: run test files in forked
// processes (each has its own TF.js engine and wasm instance) and give them time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Vitest's default is one file at a time on 2 cores (cores - 1). Most e2e files spend much of their time
    // waiting on child processes and loopback servers: two at a time took the suite from 750 s to 545 s here,
    // with every test passing.
    maxWorkers: Math.max(2, availableParallelism()),
    // One wasm thread per test process (and the CLIs they start) unless asked otherwise: files already run side by
    // side, and a threaded start costs each process about 0.5 s more (8 pthread workers). Thread counts are
    // tested explicitly by test/engine/wasm-threads.test.ts.
    env: { MCBUILD_THREADS: process.env.MCBUILD_THREADS ?? '1' },
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
