import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  type CheckpointPolicy,
  type KeyHistory,
  openKeyHistory,
  readKeyHistoryUnverified,
  parseVerifierKey,
  type VerifiedCheckpoint,
  verifyCheckpoint,
} from '../checkpoint/index.js';
import {
  consistencyProof,
  decodeHash,
  decodeProof,
  encodeHash,
  encodeProof,
  hashesEqual,
  inclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../merkle/index.js';
import { decodeLeaf, leafHashOfText, LedgerSource, leafTextSql } from './encoding.js';
import { ledgerOrigin, notInitialised, requiredAlgorithms, storedKeyHistory } from './keys.js';

/** An inclusion proof of one ledger entry, checkable offline (`verifyProofBundle`). */
export interface InclusionBundle {
  format: 'pgwarden.inclusion-proof/v1';
  origin: string;
  position: number;
  treeSize: number;
  /** The entry's canonical leaf text: what was hashed. */
  leaf: string;
  /** The audit paths' sibling hashes, base64. */
  proof: string[];
  /** The signed checkpoint the proof leads to. */
  checkpoint: string;
  /** The signed key history that says which keys may sign that checkpoint. */
  keyHistory: string;
}

/** A consistency proof between two signed checkpoints of the ledger. */
export interface ConsistencyBundle {
  format: 'pgwarden.consistency-proof/v1';
  origin: string;
  oldCheckpoint: string;
  newCheckpoint: string;
  proof: string[];
  keyHistory: string;
}

/** What `verifyProofBundle` checked. */
export interface ProofCheck {
  format: InclusionBundle['format'] | ConsistencyBundle['format'];
  origin: string;
  treeSize: number;
  position?: number;
  oldSize?: number;
  /** The proven entry's fields (inclusion proofs). */
  entry?: Record<string, unknown>;
  /** How the key history was trusted: a pinned history key, or only the bundle's own claim. */
  keyTrust: 'pinned' | 'unpinned';
}

/**
 * An inclusion proof for one entry, chosen by ledger position or by source row, against the
 * newest signed checkpoint. The proof is built from the stored leaf hashes; if those were
 * tampered with it will not verify against the signed root, which is the point.
 *
 * @example
 * const bundle = await proveEntry(client, { source: 'row_change', id: '42' });
 * await writeFile('proof.json', JSON.stringify(bundle, null, 2));
 */
export async function proveEntry(
  client: pg.ClientBase,
  which: { position: number } | { source: 'row_change' | 'security_event'; id: string },
): Promise<InclusionBundle> {
  await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(`select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`);
    const origin = await ledgerOrigin(client);
    const entry = (
      await client.query<{ position: string; source: number; source_id: string }>(
        'position' in which
          ? 'select position::text, source, source_id::text from ledger.entries where position = $1'
          : 'select position::text, source, source_id::text from ledger.entries where source = $1 and source_id = $2',
        'position' in which
          ? [which.position]
          : [which.source === 'row_change' ? LedgerSource.rowChange : LedgerSource.securityEvent, which.id],
      )
    ).rows[0];
    if (!entry) {
      throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'no sealed ledger entry matches', {
        hint: 'rows are proven once sealed: run `pgwarden audit seal` first',
      });
    }
    const head = (
      await client.query<{ size: string; note: string }>(
        'select tree_size::text as size, note from ledger.checkpoints order by tree_size desc limit 1',
      )
    ).rows[0];
    if (!head) throw notInitialised();
    const position = Number(entry.position);
    const size = Number(head.size);
    const leaf = (
      await client.query<{ leaf: string }>(
        entry.source === LedgerSource.rowChange
          ? `select ${leafTextSql(LedgerSource.rowChange, 'r')} as leaf from audit.row_changes r where r.id = $1`
          : `select ${leafTextSql(LedgerSource.securityEvent, 'e')} as leaf from logs.notification_log e where e.id = $1`,
        [entry.source_id],
      )
    ).rows[0]?.leaf;
    if (leaf === undefined) {
      throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'the sealed row is gone (archived or deleted)', {
        detail: `position ${position}`,
        hint: 'run `pgwarden audit verify`; archived rows are proven from their archive',
      });
    }
    const hashes = (
      await client.query<{ h: Buffer }>(
        'select leaf_hash as h from ledger.entries where position < $1 order by position',
        [size],
      )
    ).rows.map((r) => new Uint8Array(r.h));
    const keyHistory = await storedKeyHistory(client);
    await client.query('commit');
    if (!keyHistory) throw notInitialised();
    return {
      format: 'pgwarden.inclusion-proof/v1',
      origin,
      position,
      treeSize: size,
      leaf,
      proof: encodeProof(inclusionProof(hashes, position)),
      checkpoint: head.note,
      keyHistory,
    };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * A consistency proof between two stored checkpoints (sizes `oldSize` < `newSize`, the newest
 * when omitted).
 *
 * @example
 * const bundle = await proveConsistency(client, 1000);
 */
export async function proveConsistency(
  client: pg.ClientBase,
  oldSize: number,
  newSize?: number,
): Promise<ConsistencyBundle> {
  await client.query('begin isolation level repeatable read read only');
  try {
    const origin = await ledgerOrigin(client);
    const notes = (
      await client.query<{ size: string; note: string }>(
        `select tree_size::text as size, note from ledger.checkpoints
          where tree_size = $1 or tree_size = coalesce($2, (select max(tree_size) from ledger.checkpoints))`,
        [oldSize, newSize ?? null],
      )
    ).rows;
    const older = notes.find((n) => Number(n.size) === oldSize);
    const newer = notes.find((n) => Number(n.size) !== oldSize) ?? older;
    if (!older || !newer || Number(newer.size) <= oldSize || oldSize < 1) {
      throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'no pair of stored checkpoints with those sizes', {
        hint: 'list them with `select tree_size from ledger.checkpoints`; the old size must be smaller and at least 1',
      });
    }
    const hashes = (
      await client.query<{ h: Buffer }>(
        'select leaf_hash as h from ledger.entries where position < $1 order by position',
        [Number(newer.size)],
      )
    ).rows.map((r) => new Uint8Array(r.h));
    const keyHistory = (await storedKeyHistory(client)) ?? '';
    await client.query('commit');
    return {
      format: 'pgwarden.consistency-proof/v1',
      origin,
      oldCheckpoint: older.note,
      newCheckpoint: newer.note,
      proof: encodeProof(consistencyProof(hashes, oldSize, Number(newer.size))),
      keyHistory,
    };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Checks a proof bundle with no database: the key history (against a pinned history key when
 * given), the checkpoint's signatures and origin, the leaf hash of the entry's canonical text,
 * and the inclusion (or consistency) proof up to the signed root. Throws PW434 (or the
 * checkpoint's own PW40x code) when anything fails.
 *
 * @example
 * const check = verifyProofBundle(JSON.parse(await readFile('proof.json', 'utf8')), { historyKey: pinned });
 */
export function verifyProofBundle(
  bundle: unknown,
  options: {
    historyKey?: string;
    origin?: string;
    allowUnpinned?: boolean;
    /** The newest published key history (from a witness): used instead of the bundle's, so a revocation the bundle predates still counts. */
    keyHistory?: string;
  } = {},
): ProofCheck {
  if (options.historyKey === undefined && !options.allowUnpinned) {
    fail(
      'no history key is pinned',
      undefined,
      'pass the key-history verifier key printed by `pgwarden audit keys` (--history-key); without it a forger could bring their own keys',
    );
  }
  if (typeof bundle !== 'object' || bundle === null) fail('the proof is not a JSON object');
  const b = bundle as Record<string, unknown>;
  if (typeof b.origin !== 'string' || typeof b.keyHistory !== 'string')
    fail('the proof lacks its origin or key history');
  if (options.origin !== undefined && b.origin !== options.origin)
    fail('the proof is for another log', `origin ${b.origin}`);
  const { history, keyTrust } = openHistory(options.keyHistory ?? b.keyHistory, b.origin, options.historyKey);
  const policy: CheckpointPolicy = { origin: b.origin, logKeys: history, require: requiredAlgorithms(history) };
  if (b.format === 'pgwarden.inclusion-proof/v1') {
    const checkpoint = verifyCheckpoint(String(b.checkpoint), policy);
    const position = b.position;
    if (typeof position !== 'number' || !Number.isSafeInteger(position)) fail('the proof has no position');
    if (b.treeSize !== checkpoint.size) fail('the proof names another tree size than its checkpoint');
    if (typeof b.leaf !== 'string') fail('the proof has no leaf');
    const decoded = decodeLeaf(b.leaf);
    if (!decoded) fail('the leaf is not a pgwarden ledger leaf');
    const ok = verifyInclusion(
      position,
      checkpoint.size,
      leafHashOfText(b.leaf),
      decodeProof(b.proof),
      checkpoint.root,
    );
    if (!ok)
      fail('the inclusion proof does not lead to the signed root', `position ${position}, size ${checkpoint.size}`);
    return { format: b.format, origin: b.origin, treeSize: checkpoint.size, position, entry: decoded.fields, keyTrust };
  }
  if (b.format === 'pgwarden.consistency-proof/v1') {
    const older: VerifiedCheckpoint = verifyCheckpoint(String(b.oldCheckpoint), policy);
    const newer: VerifiedCheckpoint = verifyCheckpoint(String(b.newCheckpoint), policy);
    const ok =
      older.size < newer.size &&
      verifyConsistency(older.size, newer.size, older.root, newer.root, decodeProof(b.proof));
    if (!ok) fail('the consistency proof does not hold', `from size ${older.size} to ${newer.size}`);
    return { format: b.format, origin: b.origin, treeSize: newer.size, oldSize: older.size, keyTrust };
  }
  return fail('unknown proof format', String(b.format));
}

/**
 * Checks that an exported record's leaf hash is the leaf an inclusion bundle proves: binds an
 * exported line to the signed log.
 *
 * @example
 * sameLeaf(bundle, record.leaf_hash);
 */
export function bundleLeafHash(bundle: InclusionBundle): string {
  return encodeHash(leafHashOfText(bundle.leaf));
}

/** True when `leafHashBase64` is the hash of the bundle's leaf. */
export function bundleProvesLeaf(bundle: InclusionBundle, leafHashBase64: string): boolean {
  return hashesEqual(decodeHash(leafHashBase64), leafHashOfText(bundle.leaf));
}

function openHistory(
  note: string,
  origin: string,
  pinned: string | undefined,
): { history: KeyHistory; keyTrust: ProofCheck['keyTrust'] } {
  if (pinned !== undefined)
    return { history: openKeyHistory(note, [parseVerifierKey(pinned)], origin), keyTrust: 'pinned' };
  // Unpinned: use the history the bundle carries without a signature check, and say so.
  return { history: readKeyHistoryUnverified(note, origin), keyTrust: 'unpinned' };
}

function fail(message: string, detail?: string, hint?: string): never {
  throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, message, {
    detail,
    hint: hint ?? 'the entry, the proof or the checkpoint was changed, or the proof belongs to another log',
  });
}
