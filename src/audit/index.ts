/**
 * pgwarden's audit trail, as a library (`pgwarden/audit`): the tamper-evident ledger (sealing,
 * verification, proofs, keys, witnesses), retention of old partitions, export to SIEMs, and the
 * Merkle tree and signed checkpoints underneath.
 *
 * @example
 * import { sealLedger, verifyLedger } from 'pgwarden/audit';
 */
export * from './capture/index.js';
export * from './checkpoint/index.js';
export * from './ledger/index.js';
export * from './merkle/index.js';
export * from './retention/index.js';
export * from './export/index.js';
