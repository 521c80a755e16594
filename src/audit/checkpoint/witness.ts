import { type ErrorCode, ErrorCodes, PgwardenError } from '../../errors/index.js';
import { type CheckpointPolicy, type VerifiedCheckpoint, verifyCheckpoint } from './checkpoint.js';
import { checkExtends, type TreeHead } from './checkpoint-verifier.js';
import { hashesEqual } from '../merkle/index.js';
import { type NoteSigner, parseNote, signatureLine } from './note.js';

/** The checkpoint a submission claims the witness holds, and the consistency proof from it. */
export interface PreviousCheckpoint {
  /** Size of the checkpoint the witness last accepted for this origin (0 for none). */
  readonly oldSize: number;
  /** RFC 6962 consistency proof from `oldSize` to the submitted size (empty from size 0). */
  readonly proof: readonly Uint8Array[];
}

/** What a witness gives back for an accepted checkpoint. */
export interface WitnessReceipt {
  readonly witness: string;
  readonly size: number;
  /** Cosignature lines (`— <witness> <base64>`), to add to the note; empty for witnesses without a key. */
  readonly cosignatures: readonly string[];
}

/**
 * A place outside the database that keeps checkpoints, so the log cannot later show a different
 * history. `previous` is null for a first submission (old size 0).
 *
 * @example
 * const receipt = await witness.submit(note, { oldSize: 90, proof: consistencyProof(leaves, 90, 100) });
 * note = addSignatureLines(note, receipt.cosignatures);
 */
export interface Witness {
  readonly name: string;
  submit(signedCheckpoint: string, previous: PreviousCheckpoint | null): Promise<WitnessReceipt>;
}

/**
 * The witness holds another size than the submission's old size (HTTP 409 with the size, as in
 * c2sp.org/tlog-witness). Retry with a consistency proof from `heldSize`.
 */
export class WitnessConflictError extends PgwardenError {
  readonly heldSize: number;

  constructor(heldSize: number) {
    super(ErrorCodes.AUDIT_WITNESS_FAILED, 'the witness holds a checkpoint of another size', {
      detail: `witness holds size ${heldSize}`,
      hint: 'resubmit with a consistency proof from the size the witness holds',
    });
    this.name = 'WitnessConflictError';
    this.heldSize = heldSize;
  }
}

const statusByCode: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.AUDIT_NOTE_MALFORMED]: 400,
  [ErrorCodes.AUDIT_CHECKPOINT_MALFORMED]: 400,
  [ErrorCodes.AUDIT_NOTE_UNVERIFIED]: 403,
  [ErrorCodes.AUDIT_KEY_HISTORY]: 403,
  [ErrorCodes.AUDIT_CHECKPOINT_ORIGIN]: 404,
  [ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK]: 409,
  [ErrorCodes.AUDIT_CHECKPOINT_EQUIVOCATION]: 409,
  [ErrorCodes.AUDIT_WITNESS_FAILED]: 409,
  [ErrorCodes.AUDIT_CONSISTENCY_PROOF]: 422,
};

/**
 * The HTTP status a witness answers for a refused submission (tlog-witness semantics; an
 * equivocating same-size checkpoint gets 409).
 *
 * @example
 * witnessStatus(err); // 422 for AUDIT_CONSISTENCY_PROOF
 */
export function witnessStatus(err: unknown): number {
  return err instanceof PgwardenError ? (statusByCode[err.code] ?? 500) : 500;
}

/**
 * The witness's decision for one submission, given what it holds for the origin: verifies the
 * log's signatures (policy by origin; unknown origin → `AUDIT_CHECKPOINT_ORIGIN`), refuses
 * rollback and equivocation, requires `previous.oldSize` to be the held size, and checks the
 * consistency proof. Returns the checkpoint and whether it advances the held head.
 *
 * @example
 * const { checkpoint, advances } = decideSubmission(policies, held, note, previous);
 */
export function decideSubmission(
  policies: ReadonlyMap<string, CheckpointPolicy>,
  held: TreeHead | null,
  note: string,
  previous: PreviousCheckpoint | null,
): { checkpoint: VerifiedCheckpoint; advances: boolean } {
  const origin = parseNote(note).text.split('\n', 1)[0] ?? '';
  const policy = policies.get(origin);
  if (!policy) {
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_ORIGIN, 'the witness does not follow this log', {
      detail: `origin "${origin}"`,
    });
  }
  // The witness checks the log's own signatures; cosignatures are what it adds, not what it needs.
  const checkpoint = verifyCheckpoint(note, { ...policy, witnesses: [], quorum: 0 });
  const oldSize = previous?.oldSize ?? 0;
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > checkpoint.size) {
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_MALFORMED, 'the old size is larger than the checkpoint', {
      detail: `old ${oldSize}, checkpoint ${checkpoint.size}`,
    });
  }
  const heldSize = held?.size ?? 0;
  // Rollback and equivocation are named as such, whatever old size the client claims.
  if (held && checkpoint.size <= held.size) {
    return { checkpoint, advances: checkExtends(held, checkpoint, null) };
  }
  if (oldSize !== heldSize) throw new WitnessConflictError(heldSize);
  return { checkpoint, advances: checkExtends(held, checkpoint, previous?.proof ?? null) };
}

/**
 * The witness's cosignature lines for an accepted checkpoint.
 *
 * @example
 * cosign([witnessKey], checkpoint.text); // ['— witness.example/w1 …']
 */
export function cosign(keys: readonly NoteSigner[], text: string): string[] {
  return keys.map((key) => signatureLine(key, text));
}

/** True when both heads are the same size and root. */
export function sameHead(a: TreeHead, b: TreeHead): boolean {
  return a.size === b.size && hashesEqual(a.root, b.root);
}

/** Where a `StdoutWitness` writes. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * A witness that prints each checkpoint note, for piping into another system's log (which is
 * then the witness). It checks nothing and cosigns nothing.
 *
 * @example
 * const witness = new StdoutWitness(); // writes to process.stdout
 */
export class StdoutWitness implements Witness {
  readonly name: string;
  readonly #out: TextSink;

  constructor(options: { name?: string; out?: TextSink } = {}) {
    this.name = options.name ?? 'stdout';
    this.#out = options.out ?? process.stdout;
  }

  submit(signedCheckpoint: string, _previous: PreviousCheckpoint | null): Promise<WitnessReceipt> {
    const { text } = parseNote(signedCheckpoint);
    const size = Number(text.split('\n')[1]);
    this.#out.write(signedCheckpoint.endsWith('\n') ? signedCheckpoint : `${signedCheckpoint}\n`);
    return Promise.resolve({ witness: this.name, size, cosignatures: [] });
  }
}
