/**
 * Part of `npm run build`, after tsc: bundles the compiled CLI into a few chunks in dist/bundle/, which
 * bin/mcbuild.js runs when it is there. Node resolves, reads and compiles one file per import, and a cached
 * `mcbuild plan` or rebuild spent most of its time doing that for ~300 modules (docs/performance.md).
 *
 * Lazy imports stay chunks of their own, loaded when used. TF.js, the scale-out packages (bullmq, ioredis), the
 * watcher and the terminal renderer stay outside, loaded from node_modules when used. The step pool's child is
 * an entry of its own: the pool starts it by path (src/execute/pool.ts). Source maps are written beside the
 * chunks for `node --enable-source-maps`.
 */
import { join } from 'node:path';
import { build } from 'rolldown';

const dist = join(import.meta.dirname, '..');
await build({
  input: { main: join(dist, 'src/cli/main.js'), 'step-child': join(dist, 'src/execute/step-child.js') },
  platform: 'node',
  external: [/^@tensorflow\//, 'bullmq', 'ioredis', 'chokidar', 'listr2', /^node:/, 'playwright-core'],
  logLevel: 'warn',
  output: {
    dir: join(dist, 'bundle'),
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    sourcemap: true,
    // No chunk of an earlier build is left behind.
    cleanDir: true,
  },
});
