import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { isoMicros } from '../export/export-record.js';
import { formatLsn, parseLsn, parsePgoutput, type Relation, type TupleValue } from './pgoutput.js';

/**
 * WAL capture: the changes of tables enabled with capture 'wal' are decoded from the write-ahead
 * log after commit (logical decoding through pgwarden's slot, pgoutput plugin) and written to
 * audit.row_changes by `audit._wal_apply()`, with the context the statement trigger logged
 * (sql/audit/0006_wal_capture.sql). The writers pay for the log records only; the decoding and
 * the trail's inserts happen here, off their path.
 */

/** The publication of the audited tables, and the one carrying the capture context. */
export const WAL_PUBLICATIONS = ['pgwarden_audit', 'pgwarden_audit_context'] as const;
const PG_EPOCH_MICROS = 946_684_800_000_000n;

export interface WalCaptureOptions {
  /** Stop after the transaction that brings a batch past this many decoded messages (default 100,000). */
  maxChanges?: number;
  /** How long to wait for the log to be flushed up to where the capture started (default 5 s). */
  flushWaitMs?: number;
}

export interface WalCaptureResult {
  /** Transactions applied (including those that only carried context). */
  transactions: number;
  /** audit.row_changes rows written. */
  rows: number;
  /** Rows written without a capture context (also reported as audit.wal_context_missing). */
  contextMissing: number;
  /** The log position applied up to. */
  appliedLsn: string;
}

export interface WalSetupResult {
  slot: string;
  /** The slot was created now (false: it existed). */
  created: boolean;
}

const fail = (message: string, hint?: string, cause?: unknown): PgwardenError =>
  new PgwardenError(ErrorCodes.AUDIT_WAL_CAPTURE, message, { hint, cause });

/** The slot name of the current database: one slot per database, named by its oid. */
async function slotNameFor(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ oid: string }>(
    'select d.oid::text from pg_catalog.pg_database d where d.datname = pg_catalog.current_database()',
  );
  return `pgwarden_audit_${rows[0]?.oid}`;
}

/**
 * Sets WAL capture up in the connected database (idempotent): checks `wal_level = logical` and
 * the login's REPLICATION attribute, creates the two publications and the logical replication
 * slot, and registers it. After this, `audit.enable()` uses WAL capture by default. A slot that
 * was lost (dropped, or invalidated by `max_slot_wal_keep_size`) is created again, and a
 * critical `audit.wal_gap` event says which log was never applied.
 * Throws PW424 when it cannot.
 *
 * @example
 * const { slot } = await setupWalCapture(client); // 'pgwarden_audit_16384'
 */
export async function setupWalCapture(client: pg.ClientBase): Promise<WalSetupResult> {
  const { rows: facts } = await client.query<{ wal_level: string; can: boolean; installed: boolean; in_tx: boolean }>(
    `select pg_catalog.current_setting('wal_level') as wal_level,
            coalesce((select r.rolsuper or r.rolreplication from pg_catalog.pg_roles r where r.rolname = session_user), false) as can,
            pg_catalog.to_regclass('audit.wal_state') is not null as installed,
            pg_catalog.txid_current_if_assigned() is not null as in_tx`,
  );
  const f = facts[0];
  if (!f?.installed) {
    throw fail('the audit module is not installed here', 'run `pgwarden install` (standard tier or above) first');
  }
  if (f.wal_level !== 'logical') {
    throw fail(
      `wal_level is ${f.wal_level}: WAL capture needs logical`,
      'set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL; tables stay on trigger capture until then',
    );
  }
  if (!f.can) {
    throw fail(
      'WAL capture needs a login with the REPLICATION attribute (or a superuser)',
      'ALTER ROLE <login> REPLICATION, or run this as a superuser',
    );
  }
  const slot = await slotNameFor(client);
  await client.query(
    `do $$ begin
       if not exists (select 1 from pg_catalog.pg_publication where pubname = 'pgwarden_audit') then
         create publication pgwarden_audit with (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);
       end if;
       if not exists (select 1 from pg_catalog.pg_publication where pubname = 'pgwarden_audit_context') then
         create publication pgwarden_audit_context for table audit.wal_context with (publish = 'insert');
       end if;
     end $$`,
  );
  const { rows: existing } = await client.query<{ lost: boolean }>(
    `select s.wal_status is not distinct from 'lost' as lost from pg_catalog.pg_replication_slots s where s.slot_name = $1`,
    [slot],
  );
  let created = false;
  if (existing[0]?.lost) {
    await client.query('select pg_catalog.pg_drop_replication_slot($1)', [slot]);
  }
  if (!existing[0] || existing[0].lost) {
    // Outside any transaction that wrote: PostgreSQL refuses to create a slot in one.
    await client.query(`select pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    created = true;
  }
  // A slot created again starts past the applied position: the registration reports that gap.
  await client.query('select audit._wal_register_slot($1)', [slot]);
  return { slot, created };
}

/** The registered slot of this database, or null when WAL capture is not set up. */
export async function walCaptureSlot(client: pg.ClientBase): Promise<string | null> {
  const { rows: t } = await client.query<{ installed: boolean }>(
    `select pg_catalog.to_regclass('audit.wal_state') is not null as installed`,
  );
  if (!t[0]?.installed) return null;
  const { rows } = await client.query<{ slot_name: string }>(
    `select w.slot_name from audit.wal_state w
      where w.database_oid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())`,
  );
  return rows[0]?.slot_name ?? null;
}

/** How one column's text becomes JSON in old_data / new_data, as to_jsonb() would write it. */
type ColumnKind = 'number' | 'bool' | 'json' | 'string' | 'database';

const NUMBER_TYPES = new Set([20, 21, 23, 700, 701, 1700]);
const JSON_TYPES = new Set([114, 3802]);
// Types to_jsonb() writes as the JSON string of their text form (no JSON category of their own).
const STRING_TYPES = new Set([
  17, 18, 19, 25, 26, 28, 650, 774, 790, 829, 869, 1042, 1043, 1083, 1186, 1266, 1560, 1562, 2950, 5069,
]);
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function kindOf(typeOid: number): ColumnKind {
  if (NUMBER_TYPES.has(typeOid)) return 'number';
  if (typeOid === 16) return 'bool';
  if (JSON_TYPES.has(typeOid)) return 'json';
  if (STRING_TYPES.has(typeOid)) return 'string';
  // Dates and times, arrays, composites, enums, domains, ranges, extension types: converted by
  // PostgreSQL itself (to_jsonb of the value), so they read exactly as trigger capture writes them.
  return 'database';
}

/** A value whose JSON form PostgreSQL computes (kind 'database'), filled in before the apply. */
interface Deferred {
  typeOid: number;
  text: string;
  json?: string;
}

type Part = string | Deferred;

interface CapturedRelation extends Relation {
  kinds: ColumnKind[];
  /** Quoted column names followed by ': ', ready to join. */
  keys: string[];
  isContext: boolean;
}

interface Context {
  txid: string;
  role: string | null;
  sessionUser: string | null;
  clientAddr: string | null;
  application: string | null;
  sub: string | null;
  tenant: string | null;
}

interface PendingRow {
  relation: CapturedRelation;
  op: 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
  old: Part[] | null;
  new: Part[] | null;
  /** UPDATE: the changed columns as a PostgreSQL array literal. */
  changed?: string;
  context: Context | null;
  xid: number;
  commitTime: bigint;
  /** The end of its transaction's commit record (set at the commit). */
  txEnd?: bigint;
}

/** Builds the JSON object parts of a tuple; null when the tuple is absent. */
function objectParts(
  rel: CapturedRelation,
  values: TupleValue[] | null,
  fallback: TupleValue[] | null,
  keyOnly: boolean,
): Part[] | null {
  if (!values) return null;
  const parts: Part[] = ['{'];
  let first = true;
  for (let i = 0; i < rel.columns.length; i++) {
    if (keyOnly && !rel.columns[i]?.key) continue;
    let v = values[i];
    // An unchanged TOASTed value is not repeated in the log: the old tuple (identity FULL) has it.
    if (v === undefined) v = fallback?.[i];
    if (v === undefined) continue;
    parts.push(first ? (rel.keys[i] as string) : `, ${rel.keys[i]}`);
    first = false;
    if (v === null) {
      parts.push('null');
      continue;
    }
    switch (rel.kinds[i]) {
      case 'number':
        parts.push(JSON_NUMBER.test(v) ? v : JSON.stringify(v));
        break;
      case 'bool':
        parts.push(v === 't' ? 'true' : 'false');
        break;
      case 'json':
        parts.push(v);
        break;
      case 'string':
        parts.push(JSON.stringify(v));
        break;
      default:
        parts.push({ typeOid: rel.columns[i]?.typeOid as number, text: v });
    }
  }
  parts.push('}');
  return parts;
}

/**
 * The columns an UPDATE changed, as a PostgreSQL text[] literal in byte order (as trigger capture
 * sorts them): those whose logged text differs. An unchanged TOASTed value is not logged and so
 * unchanged; without the full old row (REPLICA IDENTITY not FULL) every column counts as changed.
 */
function changedColumns(rel: CapturedRelation, oldTuple: TupleValue[] | null, newTuple: TupleValue[]): string {
  const names: string[] = [];
  for (let i = 0; i < rel.columns.length; i++) {
    const v = newTuple[i];
    if (v === undefined) continue;
    if (oldTuple === null || oldTuple[i] !== v) names.push(rel.columns[i]?.name as string);
  }
  if (names.length > 1) names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${names.map((n) => `"${n.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

const joinParts = (parts: Part[] | null): string | null =>
  parts === null ? null : parts.map((p) => (typeof p === 'string' ? p : (p.json as string))).join('');

/**
 * Applies what the log holds since the last apply, up to where it ended when this started
 * (waiting, up to `flushWaitMs`, for the server to flush that far), in one transaction: the rows
 * and the new position commit together, then the slot moves on. Returns null when WAL capture is
 * not set up here. PW424 when the slot is lost or another capture holds it.
 *
 * Memory grows with the largest decoded transaction (its changes are held until its commit
 * record, as the reorder buffer hands them over whole).
 *
 * @example
 * const r = await captureWal(client); // { transactions: 12, rows: 40, contextMissing: 0, appliedLsn: '0/1A2B3C4' }
 */
export async function captureWal(
  client: pg.ClientBase,
  options: WalCaptureOptions = {},
): Promise<WalCaptureResult | null> {
  const slot = await walCaptureSlot(client);
  if (slot === null) return null;
  const maxChanges = options.maxChanges ?? 100_000;
  const { rows: pos } = await client.query<{ target: string; lost: boolean | null }>(
    `select pg_catalog.pg_current_wal_insert_lsn()::text as target,
            (select s.wal_status is not distinct from 'lost' from pg_catalog.pg_replication_slots s where s.slot_name = $1) as lost`,
    [slot],
  );
  const target = pos[0]?.target as string;
  if (pos[0]?.lost !== false) {
    throw fail(
      `the WAL capture slot ${slot} is ${pos[0]?.lost ? 'lost (the server removed log it still needed)' : 'missing'}: changes to WAL-captured tables may be missing from the trail`,
      'run `pgwarden audit capture setup` to create it again (a critical event records the gap); raise max_slot_wal_keep_size or keep the capture service running',
    );
  }
  await waitForFlush(client, target, options.flushWaitMs ?? 5000);
  // A table whose changes would stop reaching the log is a critical event (once per problem).
  await client.query('select audit._wal_check($1)', [slot]);

  await client.query('begin');
  try {
    await client.query(
      `set local search_path = pg_catalog, pg_temp; set local timezone = 'UTC'; set local datestyle = 'ISO, YMD';
       set local intervalstyle = 'postgres'; set local extra_float_digits = 1; set local bytea_output = 'hex'`,
    );
    const { rows: st } = await client.query<{ applied: string; xmax: string }>(
      `select w.applied_lsn::text as applied, pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text as xmax
         from audit.wal_state w where w.slot_name = $1`,
      [slot],
    );
    const applied = st[0]?.applied as string;
    const appliedLsn = parseLsn(applied);
    const xmax = BigInt(st[0]?.xmax as string);
    try {
      await client.query(
        `declare pgw_wal no scroll cursor for
           select data from pg_catalog.pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3,
             'proto_version', '1', 'publication_names', '${WAL_PUBLICATIONS.join(',')}')`,
        [slot, target, maxChanges],
      );
    } catch (err) {
      throw slotError(err, slot);
    }

    const relations = new Map<number, CapturedRelation>();
    const rows: PendingRow[] = [];
    let txRows: PendingRow[] = [];
    let begin: { xid: number; commitTime: bigint } | null = null;
    let context: Context | null = null;
    let transactions = 0;
    let messages = 0;
    let lastEnd = appliedLsn;
    for (;;) {
      let fetched: { data: Buffer }[];
      try {
        fetched = (await client.query<{ data: Buffer }>('fetch 5000 from pgw_wal')).rows;
      } catch (err) {
        throw slotError(err, slot);
      }
      if (fetched.length === 0) break;
      messages += fetched.length;
      for (const { data } of fetched) {
        const m = parsePgoutput(data);
        switch (m.kind) {
          case 'relation':
            relations.set(m.relation.id, captured(m.relation));
            break;
          case 'begin':
            begin = { xid: m.xid, commitTime: m.commitTime };
            context = null;
            txRows = [];
            break;
          case 'commit':
            if (m.endLsn > appliedLsn) {
              for (const r of txRows) {
                r.txEnd = m.endLsn;
                rows.push(r);
              }
              transactions++;
              lastEnd = m.endLsn;
            }
            begin = null;
            break;
          case 'insert':
          case 'update':
          case 'delete': {
            const rel = relations.get(m.relationId);
            if (!rel || !begin) throw fail(`the decoded log names an unknown relation ${m.relationId}`);
            if (rel.isContext) {
              if (m.kind === 'insert') context = contextOf(rel, m.newTuple);
              break;
            }
            const row: PendingRow = {
              relation: rel,
              op: m.kind === 'insert' ? 'INSERT' : m.kind === 'update' ? 'UPDATE' : 'DELETE',
              old: null,
              new: null,
              context,
              xid: begin.xid,
              commitTime: begin.commitTime,
            };
            if (m.kind === 'insert') row.new = objectParts(rel, m.newTuple, null, false);
            else if (m.kind === 'update') {
              row.old = objectParts(rel, m.oldTuple, null, m.oldIsKey);
              row.new = objectParts(rel, m.newTuple, m.oldIsKey ? null : m.oldTuple, false);
              row.changed = changedColumns(rel, m.oldIsKey ? null : m.oldTuple, m.newTuple);
            } else row.old = objectParts(rel, m.oldTuple, null, m.oldIsKey);
            txRows.push(row);
            break;
          }
          case 'truncate':
            if (!begin) throw fail('the decoded log has a TRUNCATE outside a transaction');
            for (const id of m.relationIds) {
              const rel = relations.get(id);
              if (!rel) throw fail(`the decoded log names an unknown relation ${id}`);
              if (rel.isContext) continue;
              txRows.push({
                relation: rel,
                op: 'TRUNCATE',
                old: null,
                new: null,
                context,
                xid: begin.xid,
                commitTime: begin.commitTime,
              });
            }
            break;
          default:
            break;
        }
      }
    }
    await client.query('close pgw_wal');
    // Read to the end (not cut at maxChanges): everything committed up to the target is applied,
    // including transactions pgoutput left out as touching no audited table, so the slot may move
    // there. Otherwise a quiet trail would keep the server's log forever.
    const targetLsn = parseLsn(target);
    if (messages < maxChanges && targetLsn > lastEnd) lastEnd = targetLsn;

    let contextMissing = 0;
    if (lastEnd > appliedLsn) {
      await convertDeferred(client, rows);
      contextMissing = await apply(client, slot, applied, formatLsn(lastEnd), rows, xmax);
    }
    await client.query('commit');
    if (lastEnd > appliedLsn || transactions > 0) await advanceSlot(client, slot, lastEnd);
    return { transactions, rows: rows.length, contextMissing, appliedLsn: formatLsn(lastEnd) };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

function captured(rel: Relation): CapturedRelation {
  return {
    ...rel,
    kinds: rel.columns.map((c) => kindOf(c.typeOid)),
    keys: rel.columns.map((c) => `${JSON.stringify(c.name)}: `),
    isContext: rel.schema === 'audit' && rel.name === 'wal_context',
  };
}

function contextOf(rel: Relation, values: TupleValue[]): Context {
  const get = (name: string): string | null => {
    const i = rel.columns.findIndex((c) => c.name === name);
    const v = i < 0 ? null : values[i];
    return v === undefined ? null : v;
  };
  return {
    txid: get('txid') as string,
    role: get('db_role'),
    sessionUser: get('session_user_name'),
    clientAddr: get('client_addr'),
    application: get('application_name'),
    sub: get('actor_sub'),
    tenant: get('actor_tenant'),
  };
}

/**
 * Makes sure the server has flushed its log up to `target`: decoding reads flushed log only, and
 * with synchronous_commit off a commit may wait up to three wal_writer_delay rounds for it. A
 * synchronous commit of its own flushes everything before it.
 */
async function waitForFlush(client: pg.ClientBase, target: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let round = 0; ; round++) {
    const { rows } = await client.query<{ done: boolean }>(
      'select pg_catalog.pg_current_wal_flush_lsn() >= $1::pg_lsn as done',
      [target],
    );
    if (rows[0]?.done || Date.now() >= deadline) return;
    if (round === 0) {
      // A commit flushes only if its transaction wrote to the log: a (transactional, unpublished) message does.
      await client.query(
        `begin; set local synchronous_commit = on; select pg_catalog.pg_logical_emit_message(true, 'pgwarden.flush', ''); commit`,
      );
    } else await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The type PostgreSQL may convert a value to JSON through, or null when the value keeps its text
 * form. Converting runs the type's input function and any cast from text in the capture login's
 * session, so it is done only where no user code can run: a domain is read as its base type (its
 * CHECK is not evaluated again: the value was stored), an array of domains as an array of the
 * base type, and the result must be a built-in type (a user cannot create a cast to those). Enums
 * read as their label, as to_jsonb() writes them. Composites and other user types keep their text.
 */
const SAFE_TYPE_SQL = `
  with recursive t(oid) as (select $1::oid),
  base(oid, typtype, typbasetype, typelem, typarray) as (
    select y.oid, y.typtype, y.typbasetype, y.typelem, y.typarray from pg_catalog.pg_type y join t on y.oid = t.oid
    union all
    select y.oid, y.typtype, y.typbasetype, y.typelem, y.typarray
      from base b join pg_catalog.pg_type y on y.oid = b.typbasetype where b.typtype = 'd')
  select (select b.oid from base b where b.typtype <> 'd') as base,
         (select b.typtype from base b where b.typtype <> 'd') as typtype,
         (select b.typelem from base b where b.typtype <> 'd') as elem`;

async function safeTypeName(client: pg.ClientBase, typeOid: number): Promise<'enum' | string | null> {
  const resolve = async (oid: number): Promise<{ base: number; typtype: string; elem: number } | null> => {
    const { rows } = await client.query<{ base: number | null; typtype: string | null; elem: number | null }>(
      SAFE_TYPE_SQL,
      [oid],
    );
    const r = rows[0];
    return r?.base == null ? null : { base: Number(r.base), typtype: r.typtype as string, elem: Number(r.elem ?? 0) };
  };
  const t = await resolve(typeOid);
  if (!t) return null;
  if (t.typtype === 'e') return 'enum';
  let target = t.base;
  if (t.elem !== 0) {
    // An array: of a domain, read as the base type's array.
    const e = await resolve(t.elem);
    if (!e || e.typtype === 'e') return null;
    const { rows } = await client.query<{ typarray: number }>(
      'select typarray from pg_catalog.pg_type where oid = $1',
      [e.base],
    );
    target = Number(rows[0]?.typarray ?? 0);
  }
  if (target === 0 || target >= FIRST_NORMAL_OID) return null;
  const { rows } = await client.query<{ name: string | null }>('select pg_catalog.format_type($1, null) as name', [
    target,
  ]);
  return rows[0]?.name ?? null;
}
const FIRST_NORMAL_OID = 16384;

/** Fills in the JSON of 'database'-kind values: one to_jsonb() query per type in the batch. */
async function convertDeferred(client: pg.ClientBase, rows: PendingRow[]): Promise<void> {
  const byType = new Map<number, Deferred[]>();
  for (const r of rows) {
    for (const parts of [r.old, r.new]) {
      if (!parts) continue;
      for (const p of parts) {
        if (typeof p === 'string') continue;
        let list = byType.get(p.typeOid);
        if (!list) byType.set(p.typeOid, (list = []));
        list.push(p);
      }
    }
  }
  for (const [typeOid, list] of byType) {
    const name = await safeTypeName(client, typeOid);
    let out: (string | null)[] | null = null;
    if (name !== null && name !== 'enum') {
      // A value the type no longer takes (changed since the write) keeps its text form.
      await client.query('savepoint pgw_convert');
      try {
        const { rows: converted } = await client.query<{ j: string }>(
          `select pg_catalog.format('%s', pg_catalog.to_jsonb(v::${name})) as j
             from pg_catalog.unnest($1::text[]) with ordinality as u(v, n) order by n`,
          [list.map((d) => d.text)],
        );
        out = converted.map((c) => c.j);
        await client.query('release savepoint pgw_convert');
      } catch {
        await client.query('rollback to savepoint pgw_convert');
      }
    }
    list.forEach((d, i) => {
      d.json = out?.[i] ?? JSON.stringify(d.text);
    });
  }
}

const APPLY_CHUNK = 5000;

/**
 * Writes the rows through audit._wal_apply() in chunks of about APPLY_CHUNK rows, each ending on a
 * transaction's end, all in the caller's transaction; the last call moves the position to `to`.
 * A chunk that jsonb refuses a value of is applied again with that value replaced (and a
 * critical event), so one value cannot stop capture. Returns how many rows lacked a context.
 */
async function apply(
  client: pg.ClientBase,
  slot: string,
  after: string,
  to: string,
  rows: PendingRow[],
  xmax: bigint,
): Promise<number> {
  let missing = 0;
  let from = after;
  let start = 0;
  while (start < rows.length || from !== to) {
    let end = Math.min(start + APPLY_CHUNK, rows.length);
    while (end < rows.length && rows[end]?.txEnd === rows[end - 1]?.txEnd) end++;
    const chunk = rows.slice(start, end);
    const chunkTo = end >= rows.length ? to : formatLsn(rows[end - 1]?.txEnd as bigint);
    missing += await applyChunk(client, slot, from, chunkTo, chunk, xmax);
    from = chunkTo;
    start = end;
  }
  return missing;
}

async function applyChunk(
  client: pg.ClientBase,
  slot: string,
  after: string,
  to: string,
  rows: PendingRow[],
  xmax: bigint,
): Promise<number> {
  const cols = {
    oid: [] as number[],
    schema: [] as string[],
    table: [] as string[],
    op: [] as string[],
    old: [] as (string | null)[],
    new: [] as (string | null)[],
    changed: [] as (string | null)[],
    xid: [] as string[],
    time: [] as string[],
    role: [] as (string | null)[],
    sessionUser: [] as (string | null)[],
    addr: [] as (string | null)[],
    app: [] as (string | null)[],
    sub: [] as (string | null)[],
    tenant: [] as (string | null)[],
  };
  let missing = 0;
  for (const r of rows) {
    const c = r.context;
    if (!c) missing++;
    cols.oid.push(r.relation.id);
    cols.schema.push(r.relation.schema);
    cols.table.push(r.relation.name);
    cols.op.push(r.op);
    cols.old.push(joinParts(r.old));
    cols.new.push(joinParts(r.new));
    cols.changed.push(r.changed ?? null);
    cols.xid.push(c?.txid ?? fullXid(r.xid, xmax));
    cols.time.push(isoMicros((r.commitTime + PG_EPOCH_MICROS).toString()));
    cols.role.push(c?.role ?? null);
    cols.sessionUser.push(c?.sessionUser ?? null);
    cols.addr.push(c?.clientAddr ?? null);
    cols.app.push(c?.application ?? null);
    cols.sub.push(c?.sub ?? null);
    cols.tenant.push(c?.tenant ?? null);
  }
  const call = () =>
    client.query(
      `select audit._wal_apply($1, $2::pg_lsn, $3::pg_lsn, $4::oid[], $5::text[], $6::text[], $7::text[], $8::text[],
                               $9::text[], $10::text[], $11::xid8[], $12::timestamptz[], $13::text[], $14::text[],
                               $15::inet[], $16::text[], $17::text[], $18::text[])`,
      [
        slot,
        after,
        to,
        cols.oid,
        cols.schema,
        cols.table,
        cols.op,
        cols.old,
        cols.new,
        cols.changed,
        cols.xid,
        cols.time,
        cols.role,
        cols.sessionUser,
        cols.addr,
        cols.app,
        cols.sub,
        cols.tenant,
      ],
    );
  await client.query('savepoint pgw_apply');
  try {
    await call();
  } catch (err) {
    // 22xxx: a value jsonb refuses (json's "\u0000", a number out of numeric's range).
    if (!String((err as { code?: string }).code ?? '').startsWith('22')) throw err;
    await client.query('rollback to savepoint pgw_apply');
    const names = cols.schema.map((sch, i) => `${sch}.${cols.table[i]}`);
    for (const key of ['old', 'new'] as const) {
      const { rows: fixed } = await client.query<{ v: (string | null)[] }>(
        'select audit._wal_readable($1::text[], $2::text[]) as v',
        [cols[key], names],
      );
      cols[key] = fixed[0]?.v ?? cols[key];
    }
    await call();
  }
  await client.query('release savepoint pgw_apply');
  return missing;
}

/** A 32-bit xid from the log as a full xid8, by the epoch of the current snapshot's xmax. */
function fullXid(xid: number, xmax: bigint): string {
  const epoch = xmax >> 32n;
  const low = xmax & 0xffffffffn;
  const x = BigInt(xid);
  return ((x <= low ? epoch : epoch - 1n) * 0x1_0000_0000n + x).toString();
}

async function advanceSlot(client: pg.ClientBase, slot: string, lsn: bigint): Promise<void> {
  const { rows } = await client.query<{ confirmed: string | null }>(
    'select s.confirmed_flush_lsn::text as confirmed from pg_catalog.pg_replication_slots s where s.slot_name = $1',
    [slot],
  );
  const confirmed = rows[0]?.confirmed;
  if (confirmed && parseLsn(confirmed) >= lsn) return;
  await client.query('select pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)', [slot, formatLsn(lsn)]);
}

function slotError(err: unknown, slot: string): PgwardenError {
  const e = err as { code?: string; message?: string };
  if (e.code === '55006') {
    return fail(`another capture service is decoding slot ${slot}`, 'run one capture service per database', err);
  }
  if (e.code === '42501') {
    return fail('decoding the log needs a login with the REPLICATION attribute (or a superuser)', undefined, err);
  }
  return fail(`decoding slot ${slot} failed: ${e.message ?? String(err)}`, undefined, err);
}
