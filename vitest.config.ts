import { defineConfig } from 'vitest/config';

// TF.js work is CPU-bound and these machines have 2 cores: run test files in forked
// processes (each has its own TF.js engine and wasm instance) and give them time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
