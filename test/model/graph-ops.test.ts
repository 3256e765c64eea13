/**
 * The graph-op catalogue (src/model/graph-ops.ts) against TF.js's own graph executor, which names every op's
 * inputs (tfjs-converter's op lists), and against the layer catalogue, whose weights the ops' weights are.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { graphOp, graphOpNames, weightRole } from '../../src/model/index.js';

interface OpMapper {
  tfOpName: string;
  inputs?: { start: number; end?: number; name: string }[];
}

/** tfjs-converter's op mappers (what tf.loadGraphModel executes), by op name. */
async function converterOps(): Promise<Map<string, OpMapper>> {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@tensorflow/tfjs-converter/package.json')), 'dist/operations/op_list');
  const out = new Map<string, OpMapper>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    const { json } = (await import(pathToFileURL(join(dir, f)).href)) as { json: OpMapper[] };
    for (const op of json) out.set(op.tfOpName, op);
  }
  return out;
}

/** The converter's name for the input holding each weight. */
const INPUT_NAMES: Record<string, readonly string[]> = {
  kernel: ['filter', 'b'],
  depthwise_kernel: ['filter'],
  bias: ['b', 'args'],
  alpha: ['alpha', 'args'],
  gamma: ['scale'],
  beta: ['offset'],
  moving_mean: ['mean'],
  moving_variance: ['variance'],
};

describe('graph ops', () => {
  it('each weight is the input TF.js reads it from', async () => {
    const ops = await converterOps();
    for (const name of graphOpNames()) {
      const mapper = ops.get(name);
      expect(mapper, name).toBeDefined();
      for (const w of graphOp(name)!.weights) {
        // The input at that index: a single one, or a list starting there (a fused op's args).
        const input = mapper!.inputs!.find(
          (i) => i.start === w.input || (i.end !== undefined && i.start < w.input && graphOp(name)!.fused === true),
        );
        expect(input, `${name} input ${w.input}`).toBeDefined();
        expect(INPUT_NAMES[w.key], `${name} input ${w.input}`).toContain(input!.name);
        // A fused op's extra inputs are the list TF.js reads from index 2 on.
        expect(input!.end !== undefined, `${name} input ${w.input}`).toBe(
          graphOp(name)!.fused === true && w.input >= 2,
        );
      }
    }
    expect(ops.has('Const')).toBe(true);
  });

  it('their weights sit on the axes of the Keras weights they correspond to', () => {
    for (const name of graphOpNames()) {
      const op = graphOp(name)!;
      for (const w of op.weights) {
        // A fused op's PReLU slopes are the PReLU's after it, not a weight of its main part's class.
        if (op.like === undefined || (op.fused && w.key === 'alpha')) continue;
        const role = weightRole(op.like, w.key);
        expect(role, `${name}: ${op.like}/${w.key}`).toBeDefined();
        expect(w.outputAxis, `${name}: ${w.key}`).toBe(role!.outputAxis);
        expect(w.inputAxis, `${name}: ${w.key}`).toBe(role!.inputAxis);
        expect(w.compress, `${name}: ${w.key}`).toEqual(role!.compress);
      }
    }
  });

  it('looks up own properties only', () => {
    expect(graphOp('constructor')).toBeUndefined();
    expect(graphOp('Relu')).toBeUndefined();
  });
});
