/**
 * What a pass step that changed nothing says: the one paragraph of a strict pass names its recipe line, what
 * its overrides skipped, the reasons and counts in its statistics and the model's weights; a legitimately empty
 * pass gets a warning line. The emptiness check looks at tensors, topology and shard size.
 */
import { describe, expect, it } from 'vitest';
import { EmptyPassError } from '../../src/errors.js';
import { changedNothing, emptyPassMessage, emptyPassWarning } from '../../src/execute/steps/empty-pass.js';
import { encodeWeights, keepStoredForms, type StoredModel } from '../../src/model/index.js';

const model: StoredModel = encodeWeights({ format: 'graph-model', modelTopology: { node: [] } }, [
  {
    spec: { name: 'StatefulPartitionedCall/conv/Conv2D_weights', shape: [3, 3, 1, 4], dtype: 'float32' },
    values: new Float32Array(36).fill(0.5),
  },
  {
    spec: { name: 'StatefulPartitionedCall/conv/BiasAdd_bias', shape: [4], dtype: 'float32' },
    values: new Float32Array(4),
  },
]);

describe('an empty pass step', () => {
  it('is one where no tensor, the topology and the shard size stayed', () => {
    const same = keepStoredForms(model, { ...model });
    expect(changedNothing(model, same.model, same.changes)).toBe(true);
    expect(changedNothing(model, { ...model, shardBytes: 1024 }, same.changes)).toBe(false);
    expect(changedNothing(model, { ...model, json: { ...model.json, extra: 1 } }, same.changes)).toBe(false);
    const values = new Float32Array(4).fill(1);
    const changed = encodeWeights(model.json, [
      { spec: model.weightSpecs[0]!, values: new Float32Array(36).fill(0.5) },
      { spec: model.weightSpecs[1]!, values },
    ]);
    const c = keepStoredForms(model, changed);
    expect(c.changes).toMatchObject({ tensors: 1, params: 4 });
    expect(changedNothing(model, c.model, c.changes)).toBe(false);
  });

  it('says where the pass is written and what it saw, in one paragraph', () => {
    const { changes } = keepStoredForms(model, model);
    const text = emptyPassMessage({
      pass: 'quantize',
      at: 'r.yaml:7:15',
      input: model,
      changes,
      stats: {
        weightsQuantized: 0,
        weightsSkipped: 2,
        skipped: [
          { name: 'a', reason: 'not a kernel' },
          { name: 'b', reason: 'not a kernel' },
        ],
      },
      layers: 3,
      skipped: ['conv'],
    });
    expect(text).toMatch(
      /^the quantize pass at r\.yaml:7:15 changed no weight of the model it received \(0 of 2 tensors\): /,
    );
    expect(text).toContain(EmptyPassError.PHRASE);
    expect(text).toContain('override blocks skip 1 of its input\'s 3 layers ("conv")');
    expect(text).toContain('because not a kernel (2)');
    expect(text).toContain('weightsQuantized 0, weightsSkipped 2');
    expect(text).toContain('"StatefulPartitionedCall/conv/Conv2D_weights"');
    expect(text).toContain('a graph model');
    expect(text).not.toContain('\n');
    expect(text).not.toContain('already stored'); // nothing was re-written
  });

  it('warns for a pass whose work may be empty', () => {
    expect(emptyPassWarning('shard', 'r.yaml:3:5', 'the weights are already cut into shards of that size')).toBe(
      'the shard pass at r.yaml:3:5 changed nothing: the weights are already cut into shards of that size.',
    );
  });
});
