/**
 * The Merkle tree of the tamper-evident audit ledger (RFC 6962 / RFC 9162, SHA-256): leaf and
 * node hashing with domain separation, tree roots, inclusion and consistency proofs and their
 * verifiers, the compact range a sealer persists, and the base64 proof codec.
 *
 * @example
 * import { CompactRange, leafHash, verifyInclusion } from './audit/merkle/index.js';
 */
export { CompactRange, type CompactRangeJson } from './compact-range.js';
export { emptyRoot, HASH_SIZE, hashesEqual, isHash, leafHash, nodeHash } from './hash.js';
export { decodeHash, decodeProof, encodeHash, encodeProof } from './proof-codec.js';
export { verifyConsistency, verifyInclusion } from './proofs.js';
export { consistencyProof, consistencyProofFrom, inclusionProof, rootOf } from './tree.js';
