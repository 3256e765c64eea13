import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin', 'mcbuild.js');

export function tempDir(prefix = 'mcbuild-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeText(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertions that do not care where a line went. */
  all: string;
  seconds: number;
}

/** Runs the built CLI as a user would, in a separate process with CI set (plain line output). */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, all: stdout + stderr, seconds: (performance.now() - started) / 1000 }),
    );
  });
}

/** A small, fast recipe: a tiny MLP trained on a slice of MNIST. Members can be replaced per test. */
export function tinyRecipe(
  over: { passes?: string; thresholds?: string; model?: string; output?: string; extra?: string } = {},
): string {
  return `version: 1
name: tiny
model:
${
  over.model ??
  `  train:
    architecture: mlp
    options: { hidden: [32] }
    dataset: mnist
    limit: 800
    epochs: 2
    batchSize: 32
    seed: 7`
}
data:
  eval: { dataset: mnist, split: test, limit: 300 }
passes:
${over.passes ?? '  - quantize: { dtype: uint8 }'}
thresholds:
${over.thresholds ?? '  accuracy: { maxDrop: 0.05 }'}
output: ${over.output ?? './out'}
${over.extra ?? ''}`;
}

/** Lines of a CLI error that look like a JavaScript stack frame. */
export function stackLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s+at .+(\(|:\d+:\d+)/.test(l));
}

/** Every file below `dir`, recursively. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

/** max |a − b| / max |a|: the error relative to the output's scale. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return diff / scale;
}

// The .npy writer lives with the fixtures so that bench/ (compiled from test/fixtures/models) shares it.
export { npyBytes } from './fixtures/models/npy.js';
