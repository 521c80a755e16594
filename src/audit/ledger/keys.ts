import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { type MasterKey, SecretBox } from '../../auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  appendKeyChanges,
  generateNoteKey,
  type KeyChange,
  type KeyHistory,
  keyIdHex,
  type NoteAlgorithm,
  NoteKey,
  type NoteVerifier,
  openKeyHistory,
  openNoteKey,
  parseVerifierKey,
  sealNoteKey,
} from '../checkpoint/index.js';

/** Options of `initLedger`. */
export interface InitLedgerOptions {
  /** Seals the signing keys; the database never sees it. */
  masterKey: MasterKey;
  /** The log's name in every checkpoint; default `pgwarden.ledger/<database>/<8 random hex>`. */
  origin?: string;
  /** Sign with ML-DSA-65 as well as Ed25519 (a hybrid log). Default true. */
  hybrid?: boolean;
}

/** The keys a sealer signs with, and the key history a verifier checks them against. */
export interface LedgerSigners {
  origin: string;
  signers: NoteKey[];
  history: KeyHistory;
  /** The history key's verifier: pin it outside the database (`pgwarden audit keys`). */
  historyVerifier: NoteVerifier;
}

const boxPurpose = 'ledger-signing-keys';

/**
 * The key that signs the key history, derived from the master key (HKDF purpose
 * `ledger-key-history`). It never signs checkpoints and is never stored, so a sealed log key
 * taken from the database cannot rewrite the history that says which log keys count.
 *
 * @example
 * publish(historyKey(masterKey, origin).vkey);
 */
export function historyKey(masterKey: MasterKey, origin: string): NoteKey {
  const seed = masterKey.deriveKey(`ledger-key-history:${origin}`).subarray(0, 32);
  return NoteKey.fromSeed(`${origin}/key-history`, 'ed25519', seed);
}

/**
 * Sets up the ledger once: its origin, an Ed25519 checkpoint key (plus ML-DSA-65 when hybrid),
 * sealed under the master key, and the first signed key history. Idempotent: an existing
 * ledger is returned unchanged.
 *
 * @example
 * const { origin, created } = await initLedger(client, { masterKey });
 */
export async function initLedger(
  client: pg.ClientBase,
  options: InitLedgerOptions,
): Promise<{ origin: string; created: boolean }> {
  await client.query('begin');
  try {
    await client.query('lock table ledger.state in exclusive mode');
    const existing = await client.query<{ origin: string }>('select origin from ledger.state');
    if (existing.rows[0]) {
      await client.query('commit');
      return { origin: existing.rows[0].origin, created: false };
    }
    const db = (await client.query<{ d: string }>('select pg_catalog.current_database() as d')).rows[0]?.d ?? 'db';
    const origin =
      options.origin ?? `pgwarden.ledger/${db.replace(/[^!-~]|\+/g, '_')}/${randomBytes(4).toString('hex')}`;
    const keys = [generateNoteKey(origin, 'ed25519')];
    if (options.hybrid ?? true) keys.push(generateNoteKey(origin, 'ml-dsa-65'));
    const history = appendKeyChanges(
      null,
      origin,
      keys.map((k) => ({ action: 'add', size: 0, vkey: k.vkey })),
      [historyKey(options.masterKey, origin)],
    );
    await client.query('insert into ledger.state (origin, history_vkey) values ($1, $2)', [
      origin,
      historyKey(options.masterKey, origin).vkey,
    ]);
    await insertKeys(client, options.masterKey, keys, 0);
    await client.query('insert into ledger.key_history (version, note) values (1, $1)', [history.note]);
    await client.query(`select logs.log_event('ledger.initialised', 'notice', null, $1, null, $2::jsonb)`, [
      origin,
      JSON.stringify({ keys: keys.map((k) => k.vkey), hybrid: keys.length > 1 }),
    ]);
    await client.query('commit');
    return { origin, created: true };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

async function insertKeys(client: pg.ClientBase, masterKey: MasterKey, keys: NoteKey[], size: number) {
  const box = new SecretBox(masterKey, boxPurpose);
  for (const key of keys) {
    await client.query(
      `insert into ledger.signing_keys (key_name, key_id, algorithm, vkey, private_sealed, master_key_id, added_at_size)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [key.name, key.keyId, key.algorithm, key.vkey, Buffer.from(sealNoteKey(box, key)), masterKey.keyId, size],
    );
  }
}

/** The newest key history note stored in the database, unverified. */
export async function storedKeyHistory(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ note: string }>(
    'select note from ledger.key_history order by version desc limit 1',
  );
  return rows[0]?.note ?? null;
}

/**
 * Every stored version of the key history, checked as a chain: versions 1..n with no gap, each
 * signed by `verifier` and extending the one before (append-only). Returns the newest. A history
 * rolled back to an older version (re-inserted under a new number) fails here (PW407).
 *
 * @example
 * const history = await loadKeyHistory(client, historyKey(masterKey, origin).verifier, origin);
 */
export async function loadKeyHistory(
  client: pg.ClientBase,
  verifier: NoteVerifier,
  origin: string,
): Promise<KeyHistory> {
  const { rows } = await client.query<{ version: number; note: string }>(
    'select version, note from ledger.key_history order by version',
  );
  if (rows.length === 0) throw notInitialised();
  let history: KeyHistory | undefined;
  rows.forEach((row, i) => {
    if (row.version !== i + 1) {
      throw new PgwardenError(ErrorCodes.AUDIT_KEY_HISTORY, 'the key history has a gap', {
        detail: `version ${row.version} where ${i + 1} was expected`,
      });
    }
    history = openKeyHistory(row.note, [verifier], origin, history);
  });
  return history as KeyHistory;
}

/** The ledger's origin, or PW430 when it was never initialised. */
export async function ledgerOrigin(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ origin: string }>('select origin from ledger.state');
  if (!rows[0]) throw notInitialised();
  return rows[0].origin;
}

/**
 * Opens the active checkpoint keys with the master key, and checks them against the key
 * history signed by the master key's history key: a key slipped into the table is refused.
 *
 * @example
 * const { signers } = await openLedgerSigners(client, masterKey);
 */
export async function openLedgerSigners(client: pg.ClientBase, masterKey: MasterKey): Promise<LedgerSigners> {
  const origin = await ledgerOrigin(client);
  const hKey = historyKey(masterKey, origin);
  let history: KeyHistory;
  try {
    history = await loadKeyHistory(client, hKey.verifier, origin);
  } catch (err) {
    if (err instanceof PgwardenError && err.code === ErrorCodes.LEDGER_NOT_INITIALISED) throw err;
    throw keysError('the ledger key history does not verify with this master key', err);
  }
  const { rows } = await client.query<{ vkey: string; private_sealed: Buffer; master_key_id: string }>(
    `select vkey, private_sealed, master_key_id from ledger.signing_keys where revoked_at_size is null order by algorithm`,
  );
  const box = new SecretBox(masterKey, boxPurpose);
  const active = activeVkeys(history);
  const signers: NoteKey[] = [];
  for (const row of rows) {
    if (!active.has(row.vkey))
      throw keysError(`signing key ${row.vkey.split('+').slice(0, 2).join('+')} is not in the key history`);
    try {
      signers.push(openNoteKey(box, row.vkey, row.private_sealed));
    } catch (err) {
      throw keysError('a ledger signing key does not open with this master key', err);
    }
  }
  if (signers.length === 0 || signers.length !== active.size) {
    throw keysError('the active signing keys do not match the key history');
  }
  return { origin, signers, history, historyVerifier: hKey.verifier };
}

/**
 * Replaces the checkpoint keys: the current ones are revoked and new ones added from tree size
 * `size + 1` (so the checkpoint already signed at `size` stays valid), in a new signed version of
 * the key history. Run it under the ledger lock (`rotateLedgerKeys` does).
 *
 * @example
 * const { history } = await rotateLedgerKeys(client, { masterKey });
 */
export async function rotateLedgerKeys(
  client: pg.ClientBase,
  options: { masterKey: MasterKey },
): Promise<{ history: KeyHistory; keys: string[]; fromSize: number }> {
  await client.query('begin');
  try {
    await client.query('lock table ledger.state in exclusive mode');
    const current = await openLedgerSigners(client, options.masterKey);
    const size = Number(
      (await client.query<{ s: string }>('select tree_size::text as s from ledger.state')).rows[0]?.s,
    );
    const from = size + 1;
    const fresh = current.signers.map((k) => generateNoteKey(current.origin, k.algorithm));
    const changes: KeyChange[] = [
      ...current.signers.map((k) => ({ action: 'revoke' as const, size: from, key: `${k.name}+${keyIdHex(k.keyId)}` })),
      ...fresh.map((k) => ({ action: 'add' as const, size: from, vkey: k.vkey })),
    ];
    const history = appendKeyChanges(current.history, current.origin, changes, [
      historyKey(options.masterKey, current.origin),
    ]);
    await client.query('update ledger.signing_keys set revoked_at_size = $1 where revoked_at_size is null', [from]);
    await insertKeys(client, options.masterKey, fresh, from);
    await client.query(
      'insert into ledger.key_history (version, note) select coalesce(max(version), 0) + 1, $1 from ledger.key_history',
      [history.note],
    );
    await client.query(`select logs.log_event('ledger.keys_rotated', 'notice', null, $1, null, $2::jsonb)`, [
      current.origin,
      JSON.stringify({ from_size: from, keys: fresh.map((k) => k.vkey) }),
    ]);
    await client.query('commit');
    return { history, keys: fresh.map((k) => k.vkey), fromSize: from };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

function activeVkeys(history: KeyHistory): Set<string> {
  const active = new Map<string, string>();
  for (const change of history.changes) {
    if (change.action === 'add') {
      const [name, id] = change.vkey.split('+');
      active.set(`${name}+${id}`, change.vkey);
    } else {
      active.delete(change.key);
    }
  }
  return new Set(active.values());
}

/** PW430: the ledger has no state or keys yet. */
export function notInitialised(): PgwardenError {
  return new PgwardenError(ErrorCodes.LEDGER_NOT_INITIALISED, 'the ledger is not set up in this database', {
    hint: 'run `pgwarden audit keys init` (install and up do it when a master key is configured)',
  });
}

function keysError(message: string, cause?: unknown): PgwardenError {
  return new PgwardenError(ErrorCodes.LEDGER_KEYS, message, {
    hint: 'use the master key the ledger was set up with (auth.masterKey / auth.masterKeyFile)',
    cause,
  });
}

/**
 * The algorithms every checkpoint of this log must be signed with: each one the key history ever
 * added (Ed25519, plus ML-DSA-65 for a hybrid log).
 *
 * @example
 * const policy = { origin, logKeys: history, require: requiredAlgorithms(history) };
 */
export function requiredAlgorithms(history: KeyHistory): NoteAlgorithm[] {
  const algorithms = new Set<NoteAlgorithm>();
  for (const c of history.changes) if (c.action === 'add') algorithms.add(parseVerifierKey(c.vkey).algorithm);
  return [...algorithms];
}
