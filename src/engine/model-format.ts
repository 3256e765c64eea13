// Moved to src/model/ (issue 18). This re-export serves src/passes/prune/ and test/passes/cluster.test.ts only,
// which another branch is changing; import from src/model/index.js instead, and delete this file once they do.
export { modelKind, readModelDir, weightByteLength, type StoredModel, type WeightSpec } from '../model/index.js';
