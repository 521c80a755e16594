import { createHash } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { allHistoryKeys, type KeyHistory, keysValidAt } from './key-history.js';
import {
  decodeBase64,
  keyIdHex,
  type NoteAlgorithm,
  type NoteSigner,
  type NoteVerifier,
  type ParsedNote,
  parseNote,
  signNote,
  verifyNote,
} from './note.js';

/** The body of a checkpoint (c2sp.org/tlog-checkpoint). */
export interface Checkpoint {
  /** Names the log, e.g. `pgwarden.example/<database-id>`; ties the checkpoint to one database. */
  readonly origin: string;
  /** Number of leaves in the tree. */
  readonly size: number;
  /** RFC 6962 root hash of the tree at `size` (32 bytes). */
  readonly root: Uint8Array;
  /** Optional extension lines (non-empty, opaque). */
  readonly extensions?: readonly string[];
}

/** Which signatures a checkpoint needs before it is trusted. */
export interface CheckpointPolicy {
  /** The only origin accepted: a checkpoint naming another database or environment is refused. */
  readonly origin: string;
  /** The log's keys: a fixed list, or a key history (then keys count only for the sizes they were valid). */
  readonly logKeys: readonly NoteVerifier[] | KeyHistory;
  /** Algorithms that must each have a valid log signature; `['ed25519', 'ml-dsa-65']` for a hybrid log. Default `['ed25519']`. */
  readonly require?: readonly NoteAlgorithm[];
  /** Trusted witness keys (`cosignature-ed25519`). */
  readonly witnesses?: readonly NoteVerifier[];
  /** How many distinct witnesses must have cosigned. Default 0. */
  readonly quorum?: number;
}

/** A checkpoint whose signatures satisfied a policy. */
export interface VerifiedCheckpoint extends Checkpoint {
  readonly extensions: readonly string[];
  /** The signed note as given. */
  readonly note: string;
  /** The note text (the checkpoint body). */
  readonly text: string;
  /** Log keys whose signatures verified. */
  readonly signedBy: readonly NoteVerifier[];
  /** Witness keys whose cosignatures verified. */
  readonly cosignedBy: readonly NoteVerifier[];
}

/** RFC 6962 root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_TREE_ROOT: Uint8Array = new Uint8Array(createHash('sha256').digest());

/**
 * The checkpoint body: origin, decimal size and base64 root hash lines, then any extension lines.
 *
 * @example
 * formatCheckpoint({ origin: 'pgwarden.example/db1', size: 10, root }); // 'pgwarden.example/db1\n10\n…=\n'
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const extensions = checkpoint.extensions ?? [];
  checkFields(checkpoint.origin, checkpoint.size, checkpoint.root, extensions);
  const lines = [checkpoint.origin, String(checkpoint.size), Buffer.from(checkpoint.root).toString('base64')];
  return `${[...lines, ...extensions].join('\n')}\n`;
}

/**
 * Parses a checkpoint body (the note text, ending in a newline). Does not check signatures.
 *
 * @example
 * const { origin, size, root } = parseCheckpoint(text);
 */
export function parseCheckpoint(text: string): Checkpoint & { readonly extensions: readonly string[] } {
  if (!text.endsWith('\n')) malformed('the checkpoint does not end in a newline');
  const [origin = '', sizeLine = '', rootLine = '', ...extensions] = text.slice(0, -1).split('\n');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) malformed('the tree size is not a decimal without leading zeros');
  const root = decodeBase64(rootLine);
  if (root === undefined) malformed('the root hash is not base64');
  const size = Number(sizeLine);
  checkFields(origin, size, root, extensions);
  return { origin, size, root: new Uint8Array(root), extensions };
}

/**
 * Signs a checkpoint with the log's keys (Ed25519, plus ML-DSA-65 for a hybrid log).
 *
 * @example
 * const note = signCheckpoint({ origin, size, root: rootOf(leaves) }, [edKey, mlDsaKey]);
 */
export function signCheckpoint(checkpoint: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/**
 * Verifies a signed checkpoint against a policy: origin, a valid signature from a log key for
 * every required algorithm (a hybrid log needs both Ed25519 and ML-DSA-65), keys valid at the
 * checkpoint's size per the key history, and a quorum of witness cosignatures. Signatures from
 * unknown keys are ignored and never count. Does not check consistency with earlier checkpoints;
 * `CheckpointVerifier` does.
 *
 * @example
 * const checkpoint = verifyCheckpoint(note, { origin, logKeys: history, require: ['ed25519', 'ml-dsa-65'] });
 */
export function verifyCheckpoint(note: string | Uint8Array, policy: CheckpointPolicy): VerifiedCheckpoint {
  const parsed = parseNote(note);
  const checkpoint = parseCheckpoint(parsed.text);
  if (checkpoint.origin !== policy.origin) {
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_ORIGIN, 'the checkpoint belongs to another log', {
      detail: `origin "${checkpoint.origin}", expected "${policy.origin}"`,
      hint: 'a checkpoint from another database or environment never vouches for this one',
    });
  }
  const require = policy.require ?? ['ed25519'];
  const logKeys = isHistory(policy.logKeys) ? keysValidAt(policy.logKeys, checkpoint.size) : policy.logKeys;
  refuseRevokedOnly(parsed, policy, logKeys, require);
  const witnesses = policy.witnesses ?? [];
  const { verifiedBy } = verifyNote(parsed, [...logKeys, ...witnesses]);
  const signedBy = verifiedBy.filter((v) => logKeys.includes(v));
  const cosignedBy = verifiedBy.filter((v) => witnesses.includes(v) && !logKeys.includes(v));
  const missing = require.filter((a) => !signedBy.some((v) => v.algorithm === a));
  if (signedBy.length === 0 || missing.length > 0) {
    throw new PgwardenError(ErrorCodes.AUDIT_NOTE_UNVERIFIED, 'the checkpoint lacks a required log signature', {
      detail: `missing ${missing.length > 0 ? missing.join(', ') : 'any log signature'}`,
      hint: 'a hybrid log signs every checkpoint with both its Ed25519 and its ML-DSA-65 key',
    });
  }
  const quorum = policy.quorum ?? 0;
  const cosigners = new Set(cosignedBy.map((v) => v.name));
  if (cosigners.size < quorum) {
    throw new PgwardenError(ErrorCodes.AUDIT_WITNESS_QUORUM, 'too few witnesses cosigned the checkpoint', {
      detail: `${cosigners.size} of ${quorum} required`,
      hint: 'submit the checkpoint to the witnesses and add their cosignatures before trusting it',
    });
  }
  const text = parsed.text;
  return {
    ...checkpoint,
    note: typeof note === 'string' ? note : Buffer.from(note).toString('utf8'),
    text,
    signedBy,
    cosignedBy,
  };
}

/** Names the revoked key when the only log signatures for a required algorithm come from keys no longer valid. */
function refuseRevokedOnly(
  parsed: ParsedNote,
  policy: CheckpointPolicy,
  valid: readonly NoteVerifier[],
  require: readonly NoteAlgorithm[],
): void {
  if (!isHistory(policy.logKeys)) return;
  const matches = (v: NoteVerifier): boolean => parsed.signatures.some((s) => s.name === v.name && s.keyId === v.keyId);
  const stale = allHistoryKeys(policy.logKeys).filter((v) => !valid.includes(v) && matches(v));
  for (const algorithm of require) {
    const revoked = stale.find((v) => v.algorithm === algorithm);
    if (revoked && !valid.some((v) => v.algorithm === algorithm && matches(v))) {
      throw new PgwardenError(
        ErrorCodes.AUDIT_KEY_HISTORY,
        'the checkpoint is signed with a key not valid at its size',
        {
          detail: `key ${revoked.name}+${keyIdHex(revoked.keyId)}`,
          hint: 'the key was revoked (or not yet added) at this tree size; treat the checkpoint as forged',
        },
      );
    }
  }
}

function isHistory(keys: CheckpointPolicy['logKeys']): keys is KeyHistory {
  return 'changes' in keys;
}

function checkFields(origin: string, size: number, root: Uint8Array, extensions: readonly string[]): void {
  if (origin.length === 0) malformed('the checkpoint origin is empty');
  if (!Number.isSafeInteger(size) || size < 0) malformed('the tree size is not a non-negative integer');
  if (root.length !== 32) malformed('the root hash is not 32 bytes');
  for (const line of [origin, ...extensions]) {
    if (line.length === 0 || line.includes('\n')) malformed('checkpoint lines must be non-empty single lines');
  }
}

function malformed(message: string): never {
  throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_MALFORMED, message, {
    hint: 'a checkpoint is an origin line, a decimal tree size line and a base64 root hash line',
  });
}
