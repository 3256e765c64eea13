// The TF.js-free model: the stored format and its files, the Keras topology and its edits, and the catalogue
// of layer classes and graph ops. Imports only runtime/, util/ and errors.ts; never '@tensorflow/*'.
export * from './format.js';
export { concatBytes } from '../runtime/decode.js';
export { filesToModel, modelToFiles } from './files.js';
export { readModelDir } from './read-dir.js';
export * from './weights.js';
export { keepStoredForms, roundToStoredGrid, type WeightChanges } from './stored-form.js';

export { TopologyError } from './topology-error.js';
export { passTopology, Topology, type LayerInfo } from './topology.js';
export type { LayerSpec } from './topology-edit.js';
export { layerOutputShape } from './shapes.js';
export type { Dim, Shape } from './dims.js';
export { batchNormAxis, tupleOf, windowOutput } from './keras-config.js';
export { expectedWeights, weightProblems } from './expected-weights.js';
export { rebuildModel, WeightTable } from './weight-table.js';
export { layerClasses, layerOfWeight, weightKey, weightLayer } from './weight-names.js';
export { modelLayers, type ModelLayer } from './model-layers.js';
export { isKeras3Topology, keras2Topology } from './keras3.js';
export { modelSignature, sampleSize, type ModelSignature, type TensorDtype, type TensorSpec } from './signature.js';

export * from './layer-classes.js';
export type { Cost, CostInput, CostRule } from './layer-costs.js';
export * from './graph-ops.js';
export {
  boolAttr,
  fusedOps,
  inputNode,
  packedChannelAxis,
  readGraph,
  stringAttr,
  weightGroup,
  type GraphLayer,
  type GraphNode,
  type GraphView,
  type GraphWeight,
} from './graph-layers.js';
