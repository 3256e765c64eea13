/**
 * The wasm SIMD kernels of src/engine/kernels/team/simd.wat, assembled (wabt, a devDependency) into the TypeScript
 * module the engine loads: one build importing a shared memory (the threaded wasm backend's) and one importing
 * an unshared one (the single-threaded backend's); WebAssembly refuses an import whose sharing differs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';

export const SIMD_SOURCE = 'src/engine/kernels/team/simd.wat';
export const SIMD_MODULE = 'src/engine/kernels/team/simd-binary.ts';

export async function simdModule(root: string): Promise<string> {
  const source = readFileSync(join(root, SIMD_SOURCE), 'utf8');
  const w = await wabt();
  const assemble = (text: string) => {
    const m = w.parseWat('simd.wat', text, { simd: true, threads: true });
    try {
      return Buffer.from(m.toBinary({}).buffer).toString('base64');
    } finally {
      m.destroy();
    }
  };
  const shared = /\(memory 1 65536 shared\)/;
  if (!shared.test(source)) throw new Error(`${SIMD_SOURCE} must import "(memory 1 65536 shared)".`);
  return `// Generated from simd.wat by \`npm run generate\` (scripts/simd.ts): do not edit.
/** The module importing a shared memory (threaded wasm backend), base64. */
export const SIMD_SHARED =
  '${assemble(source)}';
/** The module importing an unshared memory (single-threaded wasm backend), base64. */
export const SIMD_UNSHARED =
  '${assemble(source.replace(shared, '(memory 1 65536)'))}';
`;
}
