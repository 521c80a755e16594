import type pg from 'pg';
import type { MasterKey } from '../../auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  type CheckpointPolicy,
  signCheckpoint,
  verifyCheckpoint,
  type Witness,
  WitnessConflictError,
} from '../checkpoint/index.js';
import { CompactRange, consistencyProofFrom, hashesEqual } from '../merkle/index.js';
import { CopyLeafReader, copyRows } from './copy-leaves.js';
import { leafFieldsSql, LedgerSource, sourceTables, sourceTimeColumn } from './encoding.js';
import { notInitialised, openLedgerSigners, requiredAlgorithms } from './keys.js';

/** Options of `sealLedger`. */
export interface SealOptions {
  /** Opens the checkpoint signing keys. */
  masterKey: MasterKey;
  /** Rows per transaction (and per checkpoint). Default 10,000. */
  batchSize?: number;
  /** Stop after this many batches (default: until nothing is left to seal). */
  maxBatches?: number;
  /** Where each new checkpoint is pushed after it commits. */
  witnesses?: readonly Witness[];
  /** How long to wait for another sealer holding the ledger lock. Default 5,000 ms. */
  lockTimeoutMs?: number;
  /** Called after each batch commits (tests use it to stop a sealer mid-run). */
  onBatch?: (batch: { sealed: number; treeSize: number }) => void | Promise<void>;
}

/** What a sealing run did. */
export interface SealResult {
  /** Rows appended to the ledger. */
  sealed: number;
  /** Tree size after the run. */
  treeSize: number;
  /** The newest signed checkpoint (null when nothing was ever sealed). */
  checkpoint: string | null;
  batches: number;
  /** What each witness said about the newest checkpoint. */
  witnesses: { witness: string; accepted: boolean; size: number; error?: string }[];
  ms: number;
}

interface StateRow {
  origin: string;
  tree_size: string;
  compact_range: unknown;
  cursor_txid: string;
  cursor_source: number;
  cursor_id: string;
}

/** The rows of one batch, in sealing order, as the ledger stores them. */
interface Batch {
  sources: LedgerSource[];
  ids: string[];
  txids: string[];
  /** The rows' times as the server printed them (DateStyle ISO), to be stored as they are. */
  times: string[];
  hashes: Uint8Array[];
}

const MAX_BIGINT = '9223372036854775807';

// The sealing horizon: the oldest transaction of THIS database still in progress in the
// snapshot, else the snapshot's xmax. Every transaction below it has finished. A transaction in
// progress is left out only when pg_stat_activity or pg_prepared_xacts positively places it in
// another database (it cannot write here); one they do not show (finished since, or hidden from
// this role) counts as this database's and holds the horizon back. The 32-bit xid of the
// activity view is compared with the low 32 bits of the xid8.
const HORIZON_SQL = `
  with s as (select pg_catalog.pg_current_snapshot() as snap),
  foreign_xids as (
    select a.backend_xid::text as x from pg_catalog.pg_stat_activity a
     where a.backend_xid is not null and a.datname is not null and a.datname <> pg_catalog.current_database()
    union all
    select p.transaction::text from pg_catalog.pg_prepared_xacts p where p.database <> pg_catalog.current_database())
  select coalesce(
           (select pg_catalog.min(x)::text from s, pg_catalog.pg_snapshot_xip(s.snap) x
             where ((x::text::numeric % 4294967296)::text) not in (select f.x from foreign_xids f)),
           (select pg_catalog.pg_snapshot_xmax(s.snap)::text from s)) as h,
         (select pg_catalog.pg_snapshot_xmax(s.snap)::text from s) as xmax`;

/**
 * Seals committed audit rows and security events into the ledger. Each batch is one
 * REPEATABLE READ transaction under the ledger lock: it reads rows of transactions older than
 * every transaction still running (txid below the snapshot's xmin), so a row of a transaction in
 * flight is never skipped and never sealed ahead of an older one. Rows are appended in
 * (txid, source, id) order, the leaves hashed here, and the new tree head signed and stored in
 * the same transaction: a crash leaves either the whole batch or none of it. Checkpoints are
 * pushed to the witnesses after commit; a witness that fails is reported and tried again on the
 * next run.
 *
 * @example
 * const result = await sealLedger(client, { masterKey, witnesses: [new DirectoryWitness({ dir, logs: [policy] })] });
 */
export async function sealLedger(client: pg.ClientBase, options: SealOptions): Promise<SealResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 10_000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'batch size must be between 1 and 1,000,000');
  }
  await openLedgerSigners(client, options.masterKey); // fail early (PW430/PW432) before any lock
  let sealed = 0;
  let batches = 0;
  let treeSize = 0;
  let heldBackRetries = 0;
  for (;;) {
    if (options.maxBatches !== undefined && batches >= options.maxBatches) break;
    const batch = await sealBatch(client, {
      batchSize,
      masterKey: options.masterKey,
      lockTimeoutMs: options.lockTimeoutMs ?? 5000,
    });
    treeSize = batch.treeSize;
    if (batch.sealed > 0) {
      sealed += batch.sealed;
      batches += 1;
      await options.onBatch?.({ sealed: batch.sealed, treeSize });
    }
    if (batch.sealed === batchSize) continue;
    // A transaction in progress when the snapshot was taken held the horizon back. It may be
    // another database's that finished before we could tell: look again with a fresh snapshot a
    // few times, then leave the rest to the next run.
    if (!batch.heldBack || heldBackRetries >= 5) break;
    heldBackRetries += 1;
    await new Promise((r) => setTimeout(r, 10 * heldBackRetries));
  }
  const latest = await latestCheckpoint(client);
  const witnesses = latest && options.witnesses?.length ? await pushToWitnesses(client, latest, options.witnesses) : [];
  return { sealed, treeSize, checkpoint: latest?.note ?? null, batches, witnesses, ms: performance.now() - started };
}

async function sealBatch(
  client: pg.ClientBase,
  options: { batchSize: number; masterKey: MasterKey; lockTimeoutMs: number },
): Promise<{ sealed: number; treeSize: number; heldBack: boolean }> {
  await client.query('begin isolation level repeatable read');
  try {
    // SET, not set_config(): a SELECT here would take the REPEATABLE READ snapshot before the
    // lock is granted, and the batch would then read the state as it was before the last sealer.
    await client.query(`set local lock_timeout = '${Math.max(1, Math.trunc(options.lockTimeoutMs))}ms'`);
    try {
      await client.query('lock table ledger.state in exclusive mode');
    } catch (err) {
      if ((err as { code?: string }).code === '55P03') {
        throw new PgwardenError(ErrorCodes.LEDGER_BUSY, 'another sealer holds the ledger lock', {
          hint: 'only one sealer runs at a time; this run sealed nothing',
          cause: err,
        });
      }
      throw err;
    }
    // DateStyle ISO: the batch's times are stored again as the server prints them (Batch.times).
    // client_encoding UTF8: the leaves are built from the bytes COPY sends (copy-leaves.ts).
    await client.query(
      `select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true), pg_catalog.set_config('TimeZone', 'UTC', true),
              pg_catalog.set_config('enable_seqscan', 'off', true), pg_catalog.set_config('enable_sort', 'off', true),
              pg_catalog.set_config('DateStyle', 'ISO', true), pg_catalog.set_config('client_encoding', 'UTF8', true)`,
    );
    const state = (
      await client.query<StateRow>(
        `select origin, tree_size::text, compact_range, cursor_txid::text, cursor_source, cursor_id::text from ledger.state`,
      )
    ).rows[0];
    if (!state) throw notInitialised();
    const { h: horizon, xmax } = (await client.query<{ h: string; xmax: string }>(HORIZON_SQL)).rows[0]!;
    const heldBack = horizon !== xmax;
    // Transaction ids only grow within a cluster. Behind the cursor means the database was
    // restored into another cluster: new rows would sort before sealed ones and never be sealed.
    // (Compared with xmax, the next id to be assigned: the horizon itself may dip below the
    // cursor for a moment when a finished transaction of another database cannot be told apart.)
    if (BigInt(xmax) <= BigInt(state.cursor_txid)) {
      throw new PgwardenError(ErrorCodes.LEDGER_XID_REWOUND, 'transaction ids are behind the ledger cursor', {
        detail: `next transaction id ${xmax}, cursor ${state.cursor_txid}`,
        hint: 'the database was restored into another cluster; verify it, archive the ledger and set up a new one (docs/audit.md)',
      });
    }
    const size = Number(state.tree_size);
    // The keys and the frontier are read under the lock, in every batch: a rotation between
    // batches takes effect at once, and the frontier must be the one the newest signed
    // checkpoint vouches for. A frontier edited in ledger.state is refused, never signed over.
    const { signers, origin, history } = await openLedgerSigners(client, options.masterKey);
    const range = CompactRange.fromJSON(state.compact_range);
    await checkFrontier(client, range, size, { origin, logKeys: history, require: requiredAlgorithms(history) });
    // The batch is read in sealing order with each row's leaf fields; the canonical leaves are
    // built and hashed here as the rows arrive, and the entries appended in the same transaction.
    const batch = await readBatch(client, { state, horizon, limit: options.batchSize }, range);
    const count = batch.ids.length;
    if (count === 0) {
      await client.query('commit');
      return { sealed: 0, treeSize: size, heldBack };
    }
    const last = { txid: batch.txids[count - 1]!, source: batch.sources[count - 1]!, id: batch.ids[count - 1]! };
    const root = range.root();
    // The new tree head is signed here while the server appends the entries.
    const note = await whileRunning(client.query(APPEND_SQL, appendParams(batch, size)), () =>
      signCheckpoint({ origin, size: range.size, root }, signers),
    );
    await client.query(
      `insert into ledger.checkpoints (tree_size, root_hash, note, compact_range) values ($1, $2, $3, $4)`,
      [range.size, Buffer.from(root), note, JSON.stringify(range)],
    );
    await client.query(
      `update ledger.state set tree_size = $1, compact_range = $2, cursor_txid = $3, cursor_source = $4, cursor_id = $5`,
      [range.size, JSON.stringify(range), last.txid, last.source, last.id],
    );
    await client.query('commit');
    return { sealed: count, treeSize: range.size, heldBack };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

async function checkFrontier(
  client: pg.ClientBase,
  range: CompactRange,
  size: number,
  policy: CheckpointPolicy,
): Promise<void> {
  const refuse = (detail: string): never => {
    throw new PgwardenError(
      ErrorCodes.LEDGER_TAMPERED,
      'the ledger state does not match its newest signed checkpoint',
      {
        detail,
        hint: 'nothing was sealed; run `pgwarden audit verify` and investigate before sealing again',
      },
    );
  };
  if (range.size !== size) refuse(`frontier size ${range.size}, state size ${size}`);
  const newest = (
    await client.query<{ size: string; note: string }>(
      'select tree_size::text as size, note from ledger.checkpoints order by tree_size desc limit 1',
    )
  ).rows[0];
  if (!newest) {
    if (size !== 0) refuse(`no checkpoint, state size ${size}`);
    return;
  }
  let checkpoint;
  try {
    checkpoint = verifyCheckpoint(newest.note, policy);
  } catch (err) {
    return refuse(`the newest checkpoint does not verify: ${(err as Error).message}`);
  }
  if (checkpoint.size !== size || !hashesEqual(checkpoint.root, range.root())) {
    refuse(`newest checkpoint size ${checkpoint.size}, state size ${size}`);
  }
}

// Per source, the rows after the cursor are those with (txid, id) > the bound below: the cursor
// is (txid, source, id), and a source before or after the cursor's one starts after or at its txid.
function lowerBound(source: LedgerSource, state: StateRow): [string, string] {
  if (source === state.cursor_source) return [state.cursor_txid, state.cursor_id];
  return source < state.cursor_source ? [state.cursor_txid, MAX_BIGINT] : [state.cursor_txid, '-1'];
}

// COPY takes no parameters: the bounds are written into the statement, as checked decimals.
function decimal(value: string | number, what: string): string {
  const text = String(value);
  if (!/^-?\d{1,20}$/.test(text)) throw new Error(`unexpected ${what}: ${text}`);
  return text;
}

// One source's candidates for the next batch: its rows after the cursor and below the horizon
// (and up to `through` when given), in (txid, id) order, at most `limit`. Each row is id, txid,
// time (as the server prints it, to be stored again as it is), then the leaf fields.
function sourceRowsSql(
  source: LedgerSource,
  bounds: { state: StateRow; horizon: string; limit: number },
  through?: string,
): string {
  const [txid, id] = lowerBound(source, bounds.state);
  return `copy (
    select r.id, r.txid, r.${sourceTimeColumn[source]}, ${leafFieldsSql(source, 'r')}
      from ${sourceTables[source]} r
     where (r.txid, r.id) > ('${decimal(txid, 'cursor txid')}'::xid8, ${decimal(id, 'cursor id')}::bigint)
       and r.txid < '${decimal(bounds.horizon, 'horizon')}'::xid8
       ${through === undefined ? '' : `and r.txid <= '${decimal(through, 'txid')}'::xid8`}
     order by r.txid, r.id
     limit ${decimal(bounds.limit, 'batch size')}) to stdout`;
}

interface CandidateRow {
  source: LedgerSource;
  id: string;
  txid: string;
  time: string;
  hash: Uint8Array;
}

// xid8 values as the server prints them: digits, no leading zero.
const txidBefore = (a: string, b: string) => a.length < b.length || (a.length === b.length && a < b);

/**
 * Reads the next batch: the first `limit` rows of both sources' candidates in sealing order
 * (txid, source, id). The merge is done here rather than by an ORDER BY over a UNION, which
 * PostgreSQL sorts (the sources' index order does not tell it where the source goes): security
 * events, usually few, are read first and wait for their place; row changes stream in. Each
 * leaf is built and hashed as its row arrives and appended to `range` in order.
 */
async function readBatch(
  client: pg.ClientBase,
  bounds: { state: StateRow; horizon: string; limit: number },
  range: CompactRange,
): Promise<Batch> {
  const { limit } = bounds;
  const batch: Batch = { sources: [], ids: [], txids: [], times: [], hashes: [] };
  const reader = new CopyLeafReader();
  const read = (source: LedgerSource, row: Buffer): CandidateRow => {
    reader.reset(row);
    return { source, id: reader.text()!, txid: reader.text()!, time: reader.text()!, hash: reader.leafHash(source) };
  };
  const take = (r: CandidateRow) => {
    batch.sources.push(r.source);
    batch.ids.push(r.id);
    batch.txids.push(r.txid);
    batch.times.push(r.time);
    batch.hashes.push(r.hash);
    range.append(r.hash);
  };
  const events: CandidateRow[] = [];
  await copyRows(client, sourceRowsSql(LedgerSource.securityEvent, bounds), (row) => {
    events.push(read(LedgerSource.securityEvent, row));
  });
  // With a full batch of events, no row change of a later transaction than the last can come
  // into the batch: none is read.
  const through = events.length === limit ? events[limit - 1]!.txid : undefined;
  let next = 0;
  await copyRows(client, sourceRowsSql(LedgerSource.rowChange, bounds, through), (row) => {
    if (batch.ids.length >= limit) return;
    const change = read(LedgerSource.rowChange, row);
    // An event of the change's own transaction comes after it (source 2 after source 1).
    while (next < events.length && batch.ids.length < limit && txidBefore(events[next]!.txid, change.txid)) {
      take(events[next++]!);
    }
    if (batch.ids.length < limit) take(change);
  });
  while (next < events.length && batch.ids.length < limit) take(events[next++]!);
  return batch;
}

// The parameters of APPEND_SQL: array literals of server output (digits; ISO times, which hold
// no quote or backslash) and the hashes as one bytea.
function appendParams(batch: Batch, size: number): unknown[] {
  return [
    size,
    `{${batch.sources.join(',')}}`,
    `{${batch.ids.join(',')}}`,
    `{${batch.txids.join(',')}}`,
    `{"${batch.times.join('","')}"}`,
    Buffer.concat(batch.hashes),
  ];
}

/** Runs `work` here while `pending` (a statement sent) runs on the server; settles after both. */
async function whileRunning<T>(pending: Promise<unknown>, work: () => T): Promise<T> {
  let result: T;
  try {
    result = work();
  } catch (err) {
    await pending.catch(() => undefined);
    throw err;
  }
  await pending;
  return result;
}

// Positions size, size + 1, … in batch order, in one statement. The leaf hashes come as one
// bytea, 32 bytes each.
const APPEND_SQL = `insert into ledger.entries (position, source, source_id, txid, recorded_at, leaf_hash)
  select $1::bigint + b.o - 1, b.source, b.id, b.txid, b.t, pg_catalog.substr($6::bytea, (b.o * 32 - 31)::integer, 32)
    from rows from (pg_catalog.unnest($2::smallint[]), pg_catalog.unnest($3::bigint[]), pg_catalog.unnest($4::xid8[]),
                    pg_catalog.unnest($5::timestamptz[]))
         with ordinality as b(source, id, txid, t, o)`;

interface StoredCheckpoint {
  size: number;
  note: string;
}

async function latestCheckpoint(client: pg.ClientBase): Promise<StoredCheckpoint | null> {
  const { rows } = await client.query<{ size: string; note: string }>(
    'select tree_size::text as size, note from ledger.checkpoints order by tree_size desc limit 1',
  );
  return rows[0] ? { size: Number(rows[0].size), note: rows[0].note } : null;
}

/**
 * Pushes the newest checkpoint to each witness with a consistency proof from the size the
 * witness last accepted (computed from the stored compact range at that size plus the leaves
 * since). A 409 answer names the size the witness holds: the push is retried once from there.
 */
async function pushToWitnesses(
  client: pg.ClientBase,
  latest: StoredCheckpoint,
  witnesses: readonly Witness[],
): Promise<SealResult['witnesses']> {
  const out: SealResult['witnesses'] = [];
  for (const witness of witnesses) {
    const held = (
      await client.query<{ size: string | null }>(
        `select max(tree_size)::text as size from ledger.witness_receipts where witness = $1 and accepted`,
        [witness.name],
      )
    ).rows[0]?.size;
    // The receipts are only a hint (they live in the database): every checkpoint is submitted,
    // and a witness holding another size answers 409 with the size it holds.
    let oldSize = held === null || held === undefined ? 0 : Math.min(Number(held), latest.size);
    let result: SealResult['witnesses'][number];
    for (let attempt = 0; ; attempt++) {
      try {
        const proof = oldSize === 0 ? [] : await proofFrom(client, oldSize, latest.size);
        const receipt = await witness.submit(latest.note, { oldSize, proof });
        await client.query(
          `insert into ledger.witness_receipts (tree_size, witness, accepted, cosignatures) values ($1, $2, true, $3)`,
          [latest.size, witness.name, receipt.cosignatures],
        );
        result = { witness: witness.name, accepted: true, size: latest.size };
        break;
      } catch (err) {
        if (err instanceof WitnessConflictError && attempt === 0 && err.heldSize <= latest.size) {
          oldSize = err.heldSize;
          continue;
        }
        if (err instanceof WitnessConflictError && err.heldSize > latest.size) {
          // The witness holds a bigger tree than the database: the ledger was cut back.
          await client.query(`select logs.log_event('ledger.witness_ahead', 'critical', null, $1, null, $2::jsonb)`, [
            witness.name,
            JSON.stringify({ witness: witness.name, held_size: err.heldSize, ledger_size: latest.size }),
          ]);
        }
        const code = (err as { code?: string }).code ?? 'PW409';
        await client.query(
          `insert into ledger.witness_receipts (tree_size, witness, accepted, error_code) values ($1, $2, false, $3)`,
          [latest.size, witness.name, code],
        );
        result = { witness: witness.name, accepted: false, size: latest.size, error: code };
        break;
      }
    }
    out.push(result);
  }
  return out;
}

async function proofFrom(client: pg.ClientBase, oldSize: number, newSize: number): Promise<Uint8Array[]> {
  const { rows } = await client.query<{ compact_range: unknown }>(
    'select compact_range from ledger.checkpoints where tree_size = $1',
    [oldSize],
  );
  if (!rows[0]) {
    throw new PgwardenError(ErrorCodes.AUDIT_WITNESS_FAILED, 'no checkpoint of the size the witness holds', {
      detail: `size ${oldSize}`,
    });
  }
  const old = CompactRange.fromJSON(rows[0].compact_range);
  const leaves = await client.query<{ h: Buffer }>(
    'select leaf_hash as h from ledger.entries where position >= $1 and position < $2 order by position',
    [oldSize, newSize],
  );
  return consistencyProofFrom(
    { size: old.size, hashes: old.hashes },
    leaves.rows.map((r) => new Uint8Array(r.h)),
  );
}
