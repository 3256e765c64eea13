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
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
