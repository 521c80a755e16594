import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import type { MasterKey } from '../../auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  type CheckpointPolicy,
  type KeyHistory,
  type NoteVerifier,
  parseVerifierKey,
  type VerifiedCheckpoint,
  verifyCheckpoint,
} from '../checkpoint/index.js';
import { CompactRange, hashesEqual } from '../merkle/index.js';
import { CopyLeafReader, copyRows } from './copy-leaves.js';
import { leafColumns, leafFieldsSql, leafHashOfText, LedgerSource } from './encoding.js';
import { historyKey, ledgerOrigin, loadKeyHistory, requiredAlgorithms } from './keys.js';

/** One thing a verification run found wrong. */
export interface LedgerFinding {
  kind:
    | 'modified'
    | 'deleted'
    | 'inserted'
    | 'reordered'
    | 'missing_entry'
    | 'rewritten'
    | 'truncated'
    | 'forged_checkpoint'
    | 'state_mismatch';
  /** The ledger position (leaf index) it concerns; null for a row that was never sealed. */
  position: number | null;
  /** For a rewrite: the first position that can differ (the previous good checkpoint's size). */
  from?: number;
  source?: 'row_change' | 'security_event';
  /** The row's id in its source table. */
  id?: string;
  detail: string;
}

/** Options of `verifyLedger`. */
export interface VerifyOptions {
  /** Trusts the key history through the history key derived from the master key. */
  masterKey?: MasterKey;
  /** A signed checkpoint held outside the database (a witness's copy): the tree must extend it. */
  trustedCheckpoint?: string;
  /** The key history's verifier key, pinned outside the database (from `pgwarden audit keys`). */
  historyKey?: string | NoteVerifier;
  /** Write a critical `ledger.tamper_detected` event when tampering is found, a `ledger.verified` one when all is verified. Default true. */
  recordEvent?: boolean;
  /** Retention's archive directory: gone rows whose sealed leaves an archive holds count as archived. */
  archiveDir?: string;
  /** Entries read per statement (each streamed with COPY). Default 50,000. */
  pageSize?: number;
  /** Findings listed in full; more are counted. Default 1,000. */
  maxFindings?: number;
}

/** What a verification run concluded. */
export interface VerifyReport {
  /** `ok`: every entry checks out against a signed checkpoint; `tampered`: see findings; `unverified`: part of the log is not covered by any checkpoint. */
  status: 'ok' | 'tampered' | 'unverified';
  origin: string;
  /** Entries in the ledger. */
  treeSize: number;
  /** The largest size vouched for by a signed checkpoint whose root matched. */
  verifiedSize: number;
  /** The first position found bad, or null. */
  firstBadPosition: number | null;
  findings: LedgerFinding[];
  /** Findings beyond `maxFindings`, counted but not listed. */
  moreFindings: number;
  /** Entries whose rows are gone but whose sealed leaves an archive file holds (`archiveDir`). */
  archived: number;
  /** Gone rows in a month retention says it archived, not checked (no `archiveDir`): the status is at best unverified. */
  archivedUnchecked: number;
  checkpoints: { stored: number; valid: number; trusted: { size: number; source: 'given' } | null };
  /** How the key history was trusted. */
  keyTrust: 'pinned' | 'master-key' | 'database';
  rows: number;
  ms: number;
}

interface EntryRow {
  position: number;
  /** The row's own txid (the ledger's copy when the row is gone): orders the entries. */
  txid: string;
  source: number;
  source_id: string;
  leaf_hash: Uint8Array;
  /** For a gone row: the ledger's copy of its time, in microseconds since the epoch. */
  recorded_at: string | null;
  /** The leaf hash of the row as it is now; null when the row is gone. */
  computed: Uint8Array | null;
}

const sourceName = (s: number): 'row_change' | 'security_event' =>
  s === LedgerSource.rowChange ? 'row_change' : 'security_event';

/**
 * Recomputes the ledger and reports every kind of tampering it can see, with positions:
 *
 * - rows against their sealed leaf hashes: a modified row (any column: the leaf covers all of
 *   them), a deleted row, a row present below the sealer's cursor but never sealed (inserted),
 *   and two entries whose rows were swapped (reordered);
 * - the stored leaf hashes against every stored checkpoint (signatures checked against the key
 *   history): a rewritten ledger, a missing entry, a forged checkpoint;
 * - the tree against a trusted checkpoint from outside the database: a truncated tail, or a full
 *   rewrite that re-signed nothing (the root no longer matches).
 *
 * Nothing is reported OK that no signed checkpoint covers. Tampering is recorded as a critical
 * security event (`ledger.tamper_detected`).
 *
 * @example
 * const report = await verifyLedger(client, { trustedCheckpoint: await readFile('witness/latest', 'utf8') });
 * if (report.status !== 'ok') console.error(report.findings);
 */
export async function verifyLedger(client: pg.ClientBase, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const pageSize = options.pageSize ?? 50_000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'page size must be a positive integer');
  }
  const maxFindings = options.maxFindings ?? 1000;
  const findings: LedgerFinding[] = [];
  let moreFindings = 0;
  const add = (f: LedgerFinding) => {
    if (findings.length < maxFindings) findings.push(f);
    else moreFindings += 1;
  };

  await client.query('begin isolation level repeatable read read only');
  try {
    // client_encoding UTF8: the leaves are built from the bytes COPY sends (copy-leaves.ts).
    await client.query(
      `select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true), pg_catalog.set_config('TimeZone', 'UTC', true),
              pg_catalog.set_config('client_encoding', 'UTF8', true)`,
    );
    const origin = await ledgerOrigin(client);
    const { history, keyTrust } = await loadHistory(
      client,
      origin,
      options.historyKey ?? (options.masterKey ? historyKey(options.masterKey, origin).verifier : undefined),
      options.historyKey === undefined && options.masterKey !== undefined,
    );
    const policy: CheckpointPolicy = { origin, logKeys: history, require: requiredAlgorithms(history) };

    // Stored checkpoints: each must verify; the valid ones are the roots the tree is held to.
    const stored = (
      await client.query<{ size: string; root: Buffer; note: string }>(
        'select tree_size::text as size, root_hash as root, note from ledger.checkpoints order by tree_size',
      )
    ).rows;
    const heads = new Map<number, VerifiedCheckpoint>();
    for (const row of stored) {
      const size = Number(row.size);
      try {
        const checkpoint = verifyCheckpoint(row.note, policy);
        if (checkpoint.size !== size || !hashesEqual(checkpoint.root, row.root)) {
          add({
            kind: 'forged_checkpoint',
            position: size,
            detail: 'the stored size or root differs from the signed note',
          });
          continue;
        }
        heads.set(size, checkpoint);
      } catch (err) {
        add({
          kind: 'forged_checkpoint',
          position: size,
          detail: `checkpoint at size ${size} does not verify: ${(err as Error).message}`,
        });
      }
    }
    let trusted: VerifiedCheckpoint | null = null;
    if (options.trustedCheckpoint !== undefined) trusted = verifyCheckpoint(options.trustedCheckpoint, policy);

    const state = (
      await client.query<{ tree_size: string; compact_range: unknown }>(
        'select tree_size::text, compact_range from ledger.state',
      )
    ).rows[0];
    const archivedRanges = await loadArchivedRanges(client);

    // Pass over the entries in position order.
    const range = new CompactRange();
    const mismatched: { position: number; stored: string; computed: string; source: number; id: string }[] = [];
    let expected = 0;
    let rows = 0;
    let archived = 0;
    let archivedUnchecked = 0;
    const archive = options.archiveDir === undefined ? undefined : await readArchives(options.archiveDir);
    let verifiedSize = 0;
    let rewriteFound = false;
    const compare = (size: number, c: VerifiedCheckpoint, what: string) => {
      if (rewriteFound) return;
      if (hashesEqual(range.root(), c.root)) {
        verifiedSize = size;
        return;
      }
      rewriteFound = true;
      add({
        kind: 'rewritten',
        position: size - 1,
        from: verifiedSize,
        detail: `the ledger's hashes no longer match ${what} at size ${size}: an entry in positions ${verifiedSize}..${size - 1} was changed, inserted, removed or reordered`,
      });
    };
    const checkRoot = (size: number) => {
      const head = heads.get(size);
      if (head) compare(size, head, 'the stored checkpoint');
      if (trusted && trusted.size === size) compare(size, trusted, 'the trusted checkpoint');
    };
    // Entries are sealed in strictly increasing (txid, source, id) order: a step down marks an
    // entry out of place (the bigger of the two when the one before agrees, else the smaller).
    type Key = readonly [string, number, string];
    const less = (a: Key, b: Key) => {
      const byTxid = compareIntegers(a[0], b[0]);
      if (byTxid !== 0) return byTxid < 0;
      return a[1] < b[1] || (a[1] === b[1] && compareIntegers(a[2], b[2]) < 0);
    };
    let keyBack2: Key | null = null;
    let keyBack1: Key | null = null;
    const checkOrder = (position: number, key: Key, e: EntryRow) => {
      if (keyBack1 && !less(keyBack1, key)) {
        const earlierIsOff = keyBack2 === null || less(keyBack2, key);
        const at = earlierIsOff ? position - 1 : position;
        add({
          kind: 'reordered',
          position: at,
          source: sourceName(e.source),
          detail: `the entry at position ${at} is out of the sealing order (txid, source, id)`,
        });
      }
      keyBack2 = keyBack1;
      keyBack1 = key;
    };
    const visit = (e: EntryRow) => {
      const position = e.position;
      while (expected < position) {
        add({ kind: 'missing_entry', position: expected, detail: `ledger entry ${expected} is gone` });
        expected += 1;
      }
      rows += 1;
      checkOrder(position, [e.txid, e.source, e.source_id], e);
      const storedHash: Uint8Array = e.leaf_hash;
      if (e.computed === null) {
        // A gone row counts as archived only when an archive file holds its sealed leaf: the
        // database's own list of archived partitions is not signed, so alone it proves nothing.
        const fromArchive = archive?.get(position);
        if (fromArchive !== undefined && fromArchive === Buffer.from(storedHash).toString('hex')) {
          archived += 1;
        } else if (archive === undefined && isArchived(archivedRanges, e)) {
          archivedUnchecked += 1;
        } else {
          add({
            kind: 'deleted',
            position,
            source: sourceName(e.source),
            id: e.source_id,
            detail: `${sourceName(e.source)} ${e.source_id} sealed at position ${position} is gone`,
          });
        }
      } else if (!hashesEqual(e.computed, storedHash)) {
        mismatched.push({
          position,
          stored: Buffer.from(storedHash).toString('hex'),
          computed: Buffer.from(e.computed).toString('hex'),
          source: e.source,
          id: e.source_id,
        });
      }
      range.append(storedHash);
      expected = position + 1;
      checkRoot(expected);
    };
    // A page at a time, each streamed by COPY: the server reads the next entries and rows while
    // the leaves before are built and hashed here.
    const reader = new CopyLeafReader();
    for (let from = 0; ;) {
      let last = from - 1;
      const count = await copyRows(client, entriesSql(from, pageSize), (row) => {
        const e = readEntry(reader.reset(row));
        last = e.position;
        visit(e);
      });
      if (count < pageSize) break;
      from = last + 1;
    }

    // A swap shows up as two rows each hashing to the other's sealed leaf.
    const storedAt = new Map(mismatched.map((m) => [m.stored, m.position]));
    for (const m of mismatched) {
      const other = storedAt.get(m.computed);
      add(
        other !== undefined
          ? {
              kind: 'reordered',
              position: m.position,
              source: sourceName(m.source),
              id: m.id,
              detail: `position ${m.position} holds the row sealed at position ${other}`,
            }
          : {
              kind: 'modified',
              position: m.position,
              source: sourceName(m.source),
              id: m.id,
              detail: `${sourceName(m.source)} ${m.id} differs from what was sealed at position ${m.position}`,
            },
      );
    }

    const treeSize = expected;
    if (trusted && trusted.size > treeSize) {
      add({
        kind: 'truncated',
        position: treeSize,
        detail: `the trusted checkpoint vouches for ${trusted.size} entries; the ledger has ${treeSize}`,
      });
    }
    const latestStored = stored.length > 0 ? Number(stored[stored.length - 1]!.size) : 0;
    if (state && (Number(state.tree_size) !== treeSize || latestStored > treeSize)) {
      add({
        kind: 'state_mismatch',
        position: Math.min(treeSize, Number(state.tree_size)),
        detail: `state says ${state.tree_size} entries, newest checkpoint ${latestStored}, ledger holds ${treeSize}`,
      });
    }
    for (const f of await unsealedRows(client)) add(f);

    const bad = [...findings].filter((f) => f.position !== null).map((f) => f.from ?? (f.position as number));
    const firstBadPosition = bad.length > 0 ? Math.min(...bad) : null;
    const tampered = findings.length > 0 || moreFindings > 0;
    // Keys the database vouches for itself prove nothing against someone who controls the
    // database: without a pinned history key (or the master key) the best answer is unverified.
    const status: VerifyReport['status'] = tampered
      ? 'tampered'
      : verifiedSize < treeSize || keyTrust === 'database' || archivedUnchecked > 0
        ? 'unverified'
        : 'ok';
    await client.query('commit');

    const report: VerifyReport = {
      status,
      origin,
      treeSize,
      verifiedSize,
      firstBadPosition,
      findings: findings.sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity)),
      moreFindings,
      archived,
      archivedUnchecked,
      checkpoints: {
        stored: stored.length,
        valid: heads.size,
        trusted: trusted ? { size: trusted.size, source: 'given' } : null,
      },
      keyTrust,
      rows,
      ms: performance.now() - started,
    };
    if (options.recordEvent ?? true) {
      if (tampered) await recordTamper(client, report);
      // A durable record of each clean verification: the scanner's PGW-004 checks its age.
      else if (status === 'ok') await recordVerified(client, report);
    }
    return report;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

// Entries from a position on, in position order, each joined to its row: position, txid (the
// row's, else the ledger's), source, source id, leaf hash (hex), the ledger's time of a gone
// row, then the leaf fields of the row change and of the security event (null when there is no
// such row). COPY takes no parameters: the two numbers are checked safe integers.
function entriesSql(from: number, limit: number): string {
  return `copy (
    select l.position, coalesce(r.txid, e.txid, l.txid), l.source, l.source_id, pg_catalog.encode(l.leaf_hash, 'hex'),
           case when r.id is null and e.id is null
                then (extract(epoch from l.recorded_at) operator(pg_catalog.*) 1000000)::bigint end,
           ${leafFieldsSql(LedgerSource.rowChange, 'r')},
           ${leafFieldsSql(LedgerSource.securityEvent, 'e')}
      from ledger.entries l
      -- Lateral, so that each entry looks its row up in its own source's table only.
      left join lateral (select * from audit.row_changes r where l.source = 1 and r.id = l.source_id offset 0) r on true
      left join lateral (select * from logs.notification_log e where l.source = 2 and e.id = l.source_id offset 0) e on true
     where l.position >= ${Math.trunc(from)}
     order by l.position
     limit ${Math.trunc(limit)}) to stdout`;
}

const ROW_CHANGE_FIELDS = leafColumns[LedgerSource.rowChange].length;

/**
 * Orders two integers as PostgreSQL prints them (an optional '-', then digits with no leading
 * zero) without parsing them: the verifier compares two per entry.
 */
function compareIntegers(a: string, b: string): number {
  const negative = a.charCodeAt(0) === 0x2d;
  if (negative !== (b.charCodeAt(0) === 0x2d)) return negative ? -1 : 1;
  const magnitude = a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  return negative ? -magnitude : magnitude;
}

/** An entry from a row of entriesSql, with the leaf hash of its row as it is now. */
function readEntry(reader: CopyLeafReader): EntryRow {
  const position = reader.integer();
  const txid = reader.text()!;
  const source = reader.integer();
  const sourceId = reader.text()!;
  const stored = reader.hexBytes();
  const recordedAt = reader.text();
  let computed: Uint8Array | null = null;
  if (source === LedgerSource.rowChange && !reader.isNull()) {
    computed = reader.leafHash(LedgerSource.rowChange);
  } else if (source === LedgerSource.securityEvent) {
    reader.skip(ROW_CHANGE_FIELDS);
    if (!reader.isNull()) computed = reader.leafHash(LedgerSource.securityEvent);
  }
  return { position, txid, source, source_id: sourceId, leaf_hash: stored, recorded_at: recordedAt, computed };
}

async function unsealedRows(client: pg.ClientBase): Promise<LedgerFinding[]> {
  // Rows at or before the sealer's cursor, in (txid, source, id) order, must all be sealed.
  const { rows } = await client.query<{ source: number; id: string }>(
    `with c as (select cursor_txid, cursor_source, cursor_id from ledger.state)
     select 1 as source, r.id::text from audit.row_changes r, c
      where (r.txid < c.cursor_txid or (r.txid = c.cursor_txid and (c.cursor_source > 1 or (c.cursor_source = 1 and r.id <= c.cursor_id))))
        and not exists (select 1 from ledger.entries l where l.source = 1 and l.source_id = r.id)
     union all
     select 2, e.id::text from logs.notification_log e, c
      where (e.txid < c.cursor_txid or (e.txid = c.cursor_txid and (c.cursor_source > 2 or (c.cursor_source = 2 and e.id <= c.cursor_id))))
        and not exists (select 1 from ledger.entries l where l.source = 2 and l.source_id = e.id)
     union all
     -- A transaction id no transaction has had yet, or an id used twice: written by hand.
     select 1, r.id::text from audit.row_changes r where r.txid >= pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())
     union all
     select 2, e.id::text from logs.notification_log e where e.txid >= pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())
     union all
     select 1, r.id::text from audit.row_changes r group by r.id having pg_catalog.count(*) > 1
     order by 1, 2
     limit 1001`,
  );
  return rows.map((r) => ({
    kind: 'inserted' as const,
    position: null,
    source: sourceName(r.source),
    id: r.id,
    detail: `${sourceName(r.source)} ${r.id} is older than the sealed part of the log but was never sealed: it was added afterwards`,
  }));
}

async function loadHistory(
  client: pg.ClientBase,
  origin: string,
  pinned: string | NoteVerifier | undefined,
  fromMasterKey: boolean,
): Promise<{ history: KeyHistory; keyTrust: VerifyReport['keyTrust'] }> {
  if (pinned !== undefined) {
    const verifier = typeof pinned === 'string' ? parseVerifierKey(pinned) : pinned;
    return {
      history: await loadKeyHistory(client, verifier, origin),
      keyTrust: fromMasterKey ? 'master-key' : 'pinned',
    };
  }
  // Without a pinned key, the history is checked with the key the database says it was signed
  // with: that shows the history is intact, not that the database is honest (keyTrust 'database').
  const stored = (await client.query<{ v: string }>('select history_vkey as v from ledger.state')).rows[0]?.v;
  if (!stored) throw new PgwardenError(ErrorCodes.LEDGER_NOT_INITIALISED, 'the ledger has no history key');
  return { history: await loadKeyHistory(client, parseVerifierKey(stored), origin), keyTrust: 'database' };
}

interface ArchivedRange {
  from: number;
  to: number;
}

async function loadArchivedRanges(client: pg.ClientBase): Promise<ArchivedRange[]> {
  const exists = (
    await client.query<{ r: string | null }>(`select pg_catalog.to_regclass('audit.archived_partitions')::text as r`)
  ).rows[0]?.r;
  if (!exists) return [];
  const { rows } = await client.query<{ f: string; t: string }>(
    `select (extract(epoch from range_from) * 1000000)::bigint::text as f, (extract(epoch from range_to) * 1000000)::bigint::text as t
       from audit.archived_partitions`,
  );
  return rows.map((r) => ({ from: Number(r.f), to: Number(r.t) }));
}

function isArchived(ranges: ArchivedRange[], e: EntryRow): boolean {
  if (e.source !== LedgerSource.rowChange || ranges.length === 0 || e.recorded_at === null) return false;
  const micros = Number(e.recorded_at);
  return ranges.some((r) => micros >= r.from && micros < r.to);
}

async function recordTamper(client: pg.ClientBase, report: VerifyReport): Promise<void> {
  const counts: Record<string, number> = {};
  for (const f of report.findings) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  await client.query(`select logs.log_event('ledger.tamper_detected', 'critical', null, $1, null, $2::jsonb)`, [
    report.origin,
    JSON.stringify({
      first_bad_position: report.firstBadPosition,
      findings: counts,
      more_findings: report.moreFindings,
      tree_size: report.treeSize,
      verified_size: report.verifiedSize,
      first: report.findings.slice(0, 10),
    }),
  ]);
}

async function recordVerified(client: pg.ClientBase, report: VerifyReport): Promise<void> {
  await client.query(`select logs.log_event('ledger.verified', 'info', null, $1, null, $2::jsonb)`, [
    report.origin,
    JSON.stringify({ tree_size: report.treeSize, verified_size: report.verifiedSize, key_trust: report.keyTrust }),
  ]);
}

/** Position → leaf hash (hex) of every line of the `*.jsonl` archives in `dir`. */
async function readArchives(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    const lines = createInterface({ input: createReadStream(join(dir, name), 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const { position, leaf } = JSON.parse(line) as { position: unknown; leaf: unknown };
      if (typeof position === 'number' && typeof leaf === 'string') {
        out.set(position, Buffer.from(leafHashOfText(leaf)).toString('hex'));
      }
    }
  }
  return out;
}
