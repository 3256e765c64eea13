// Moved to src/model/weights.ts (issue 18). This re-export serves src/passes/cluster/, src/passes/prune/ and
// their tests only, which another branch is changing; import from src/model/index.js instead, and delete this
// file once they do.
export { alignedView, decodeWeights, encodeWeights, type DecodedWeight } from '../model/index.js';
