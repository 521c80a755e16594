/**
 * Signed checkpoints of the audit ledger and the witnesses that keep them: C2SP signed notes
 * (Ed25519, plus ML-DSA-65 for hybrid logs), tlog-checkpoint bodies, a signed key history for
 * rotation, a verifier that refuses rollback, equivocation and inconsistent checkpoints, and
 * directory, HTTP and stdout witnesses with tlog-cosignature cosignatures.
 *
 * @example
 * import { generateNoteKey, signCheckpoint, CheckpointVerifier } from './audit/checkpoint/index.js';
 */
export {
  type Checkpoint,
  type CheckpointPolicy,
  EMPTY_TREE_ROOT,
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type VerifiedCheckpoint,
  verifyCheckpoint,
} from './checkpoint.js';
export { checkExtends, CheckpointVerifier, type TreeHead } from './checkpoint-verifier.js';
export { DirectoryWitness, type DirectoryWitnessOptions } from './directory-witness.js';
export {
  formatAddCheckpoint,
  HttpWitnessClient,
  type HttpWitnessServer,
  MAX_PROOF_LINES,
  parseAddCheckpoint,
  serveWitness,
} from './http-witness.js';
export {
  allHistoryKeys,
  appendKeyChanges,
  KEY_HISTORY_HEADER,
  type KeyChange,
  type KeyHistory,
  keysValidAt,
  openKeyHistory,
  readKeyHistoryUnverified,
} from './key-history.js';
export {
  cosignatureTime,
  cosignedMessage,
  exportNoteKey,
  generateNoteKey,
  importNoteKey,
  type KeySealer,
  NoteKey,
  type NoteKeyOptions,
  openNoteKey,
  parseVerifierKey,
  sealNoteKey,
  verifierFromPublicKey,
} from './keys.js';
export {
  addSignatureLines,
  decodeBase64,
  formatNote,
  isValidKeyName,
  keyIdHex,
  keyIdOf,
  MAX_NOTE_BYTES,
  MAX_SIGNATURES,
  ML_DSA_65_TYPE,
  type NoteAlgorithm,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type ParsedNote,
  parseNote,
  PUBLIC_KEY_BYTES,
  signatureLine,
  SignatureTypes,
  signNote,
  type VerifiedNote,
  verifyNote,
} from './note.js';
export {
  cosign,
  decideSubmission,
  type PreviousCheckpoint,
  sameHead,
  StdoutWitness,
  type TextSink,
  type Witness,
  WitnessConflictError,
  type WitnessReceipt,
  witnessStatus,
} from './witness.js';
