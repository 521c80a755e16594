import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { hashesEqual, verifyConsistency } from '../merkle/index.js';
import { type CheckpointPolicy, EMPTY_TREE_ROOT, type VerifiedCheckpoint, verifyCheckpoint } from './checkpoint.js';

/** A tree head someone already trusts: its size and root hash. */
export interface TreeHead {
  readonly size: number;
  readonly root: Uint8Array;
}

/**
 * Checks that `next` extends `trusted` (append-only). Throws `AUDIT_CHECKPOINT_ROLLBACK` for a
 * smaller size, `AUDIT_CHECKPOINT_EQUIVOCATION` for the same size with another root and
 * `AUDIT_CONSISTENCY_PROOF` for a larger size whose proof is missing or wrong. Returns whether
 * `next` moves the head forward.
 *
 * @example
 * if (checkExtends(held, checkpoint, proof)) await store(checkpoint);
 */
export function checkExtends(trusted: TreeHead | null, next: TreeHead, proof: readonly Uint8Array[] | null): boolean {
  if (next.size === 0 && !hashesEqual(next.root, EMPTY_TREE_ROOT)) {
    throw new PgwardenError(ErrorCodes.AUDIT_CONSISTENCY_PROOF, 'an empty tree must have the empty root');
  }
  if (trusted === null || trusted.size === 0) {
    if (trusted !== null && next.size === 0) return false;
    if (proof !== null && proof.length > 0) {
      throw new PgwardenError(ErrorCodes.AUDIT_CONSISTENCY_PROOF, 'a proof from the empty tree must be empty');
    }
    return true;
  }
  if (next.size < trusted.size) {
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK, 'the checkpoint is older than the trusted one', {
      detail: `size ${next.size} < trusted size ${trusted.size}`,
      hint: 'the log was rolled back or a stale checkpoint was replayed; investigate before trusting it',
    });
  }
  if (next.size === trusted.size) {
    if (hashesEqual(next.root, trusted.root)) return false;
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_EQUIVOCATION, 'two signed checkpoints of one size differ', {
      detail: `size ${next.size}`,
      hint: 'the log signed two histories: keep both notes as evidence and treat the log as compromised',
    });
  }
  if (proof === null || !verifyConsistency(trusted.size, next.size, trusted.root, next.root, proof)) {
    throw new PgwardenError(
      ErrorCodes.AUDIT_CONSISTENCY_PROOF,
      'the checkpoint is not consistent with the trusted one',
      {
        detail: `${proof === null ? 'no proof' : 'proof fails'} from size ${trusted.size} to ${next.size}`,
        hint: 'the log rewrote entries already covered by the trusted checkpoint, or the proof is wrong',
      },
    );
  }
  return true;
}

/**
 * Verifies a log's checkpoints over time: each one must satisfy the policy (signatures, origin,
 * key history, witness quorum) and extend the last trusted one. The trusted head only moves
 * forward; persist `trusted` between runs.
 *
 * @example
 * const verifier = new CheckpointVerifier(policy, await loadTrustedHead());
 * const checkpoint = verifier.verify(note, proofFromTrustedSize);
 * await saveTrustedHead(verifier.trusted);
 */
export class CheckpointVerifier {
  readonly policy: CheckpointPolicy;
  #trusted: TreeHead | null;

  constructor(policy: CheckpointPolicy, trusted: TreeHead | null = null) {
    this.policy = policy;
    this.#trusted = trusted && { size: trusted.size, root: new Uint8Array(trusted.root) };
  }

  /** The last trusted head, or null before the first checkpoint. */
  get trusted(): TreeHead | null {
    return this.#trusted && { size: this.#trusted.size, root: new Uint8Array(this.#trusted.root) };
  }

  /**
   * Verifies `note` and, when it extends the trusted head, makes it the trusted head. `proof` is
   * the consistency proof from the trusted size to the checkpoint's size.
   *
   * @example
   * verifier.verify(note, consistencyProof(leaves, verifier.trusted?.size ?? 0, size));
   */
  verify(note: string | Uint8Array, proof: readonly Uint8Array[] | null): VerifiedCheckpoint {
    const checkpoint = verifyCheckpoint(note, this.policy);
    if (checkExtends(this.#trusted, checkpoint, proof)) {
      this.#trusted = { size: checkpoint.size, root: new Uint8Array(checkpoint.root) };
    }
    return checkpoint;
  }
}
