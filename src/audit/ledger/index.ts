/**
 * The tamper-evident ledger over the audit trail: set-up and key rotation, the sealer that
 * appends committed rows to the Merkle tree and signs checkpoints, the verifier that finds
 * tampering, and inclusion proofs for single entries.
 *
 * @example
 * import { initLedger, sealLedger, verifyLedger } from 'pgwarden/audit';
 */
export {
  decodeLeaf,
  type DecodedLeaf,
  LeafTags,
  leafColumns,
  leafHashOfText,
  LedgerSource,
  leafTextSql,
  sourceTables,
  sourceTimeColumn,
} from './encoding.js';
export {
  historyKey,
  initLedger,
  type InitLedgerOptions,
  type LedgerSigners,
  ledgerOrigin,
  openLedgerSigners,
  rotateLedgerKeys,
} from './keys.js';
export { sealLedger, type SealOptions, type SealResult } from './sealer.js';
export { type LedgerFinding, type VerifyOptions, type VerifyReport, verifyLedger } from './verifier.js';
export {
  bundleLeafHash,
  bundleProvesLeaf,
  type ConsistencyBundle,
  type InclusionBundle,
  type ProofCheck,
  proveConsistency,
  proveEntry,
  verifyProofBundle,
} from './proofs.js';
export { configuredWitnesses, keyHistoryFile, latestCheckpointFile, witnessedCheckpoint } from './witnesses.js';
export { type SealerLog, type SealerService, type SealerServiceOptions, startSealerService } from './sealer-service.js';
