export {
  buildProvenance,
  digestOf,
  PROVENANCE_FILE,
  provenanceBytes,
  stampModelJson,
  stampOf,
  type Provenance,
} from './provenance.js';
export {
  buildManifest,
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  MANIFEST_FILE,
  manifestBytes,
  signManifest,
  SIGNATURE_FILE,
  UNATTESTED,
  type Manifest,
} from './manifest.js';
export { verifyOutput, type VerifyProblem, type VerifyResult } from './verify.js';
