import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsOptions } from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkExportedRecord,
  escapeCefHeader,
  escapeCefValue,
  escapeSdValue,
  exportAuditTrail,
  type ExportOptions,
  type ExportRecord,
  formatCef,
  formatSyslog,
  isoMicros,
  octetFrame,
  openSyslogSender,
  readableNames,
  readLedgerRecords,
  type SyslogTransport,
} from '../../src/audit/export/index.js';
import { initLedger, leafColumns, LedgerSource } from '../../src/audit/ledger/index.js';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import type { ContextKey } from '../../src/context/context-seal.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';
import { inContext, registerContextKey, testIdentity } from '../helpers/context.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';
import { streamCollector, udpCollector } from '../helpers/collectors.js';
import { rejected } from '../helpers/errors.js';

// Export of the sealed audit trail (src/audit/export) against a fresh clone with a sealed
// ledger: JSON lines and their check, paging, RFC 5424 syslog over real UDP, TCP and TLS
// sockets, and CEF. Parsers here are strict so a malformed message fails the test.

const masterKey = parseMasterKey(generateMasterKey());
const sub = '00000000-0000-4000-8000-0000000000e1';
const BIG = '9007199254740993'; // 2^53 + 1: a JavaScript number would print …992
const ODD_TABLE = 'odd]"\\name'; // ] " and \ in a table name: SD values must escape all three
const ODD_ACTOR = 'mallory]"\\|=x\ny'; // and an actor with CEF's | = and a newline too

let db: ConnectionConfig;
let admin: pg.Client;
let key: ContextKey;
const dirs: string[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  key = await registerContextKey(admin);
  await admin.query(`
    create schema shop;
    grant usage on schema shop to pgw_app_user;
    create table shop.items (id int primary key, name text, qty bigint, price numeric, secret text);
    create table shop."odd]""\\name" (id int primary key, v text);
    grant select, insert, update, delete on all tables in schema shop to pgw_app_user;
    select audit.enable('shop.items', '{}', '{secret}');
    select audit.enable('shop."odd]""\\name"');
  `);
  await admin.query(
    `insert into shop.items values (1, 'apple', ${BIG}, 1.50, 'top-secret-1'), (2, 'pear', 3, 0.25, 'top-secret-2')`,
  );
  await asTenant(async (c) => {
    await c.query(`update shop.items set qty = qty + 1, secret = 'top-secret-3' where id = 2`);
  });
  await admin.query(`delete from shop.items where id = 1`);
  await admin.query(`insert into shop."odd]""\\name" values (1, 'v')`);
  for (const [severity, actor] of [
    ['critical', ODD_ACTOR],
    ['error', 'bob'],
    ['warning', 'carol'],
    ['notice', null],
    ['info', 'dave'],
    ['debug', 'erin'],
  ] as const) {
    await admin.query(`select logs.log_event($1, $2, $3, $4, 'tenant-a', $5::jsonb)`, [
      `test.${severity}`,
      severity,
      actor,
      'subject|with=specials\\',
      // Built as text: JSON.stringify would round the big number before PostgreSQL saw it.
      `${JSON.stringify({ reason: 'a=b|c\\d\ne' }).slice(0, -1)},"big":12345678901234567890}`,
    ]);
  }
  await initLedger(admin, { masterKey, hybrid: false });
  await sealAll(admin, masterKey);
});
afterAll(async () => {
  await admin?.end();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Runs `fn` as a tenant user of a verified request context, through the authenticator login. */
const asTenant = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> =>
  inContext(db, key, testIdentity({ sub, tenant: 'tenant-a' }), fn);

/** Exports into an array: the messages and the records they were made from. */
async function collect(
  options: Omit<ExportOptions, 'write'> = {},
  client: pg.ClientBase = admin,
): Promise<{ messages: string[]; records: ExportRecord[]; last: number | null }> {
  const messages: string[] = [];
  const records: ExportRecord[] = [];
  const result = await exportAuditTrail(client, {
    ...options,
    write: (m, r) => {
      messages.push(m);
      records.push(r);
    },
  });
  expect(result.exported).toBe(messages.length);
  return { messages, records, last: result.lastPosition };
}

const treeSize = async () => Number((await admin.query('select count(*) n from ledger.entries')).rows[0].n);

function refused(line: string): PgwardenError {
  try {
    checkExportedRecord(line);
  } catch (err) {
    if (err instanceof PgwardenError) return err;
    throw err;
  }
  throw new Error(`accepted an edited record: ${line}`);
}

describe('exportAuditTrail as JSON lines', () => {
  it('exports every sealed entry once, in position order, with the leaf hash stored in ledger.entries', async () => {
    const { messages } = await collect();
    const entries = (await admin.query('select position::int, source, leaf_hash from ledger.entries order by position'))
      .rows;
    expect(messages).toHaveLength(entries.length);
    expect(entries.length).toBeGreaterThan(10);
    messages.forEach((line, i) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(record.position).toBe(i);
      expect(record.leaf_hash).toBe((entries[i].leaf_hash as Buffer).toString('base64'));
      expect(record.source).toBe(entries[i].source === 1 ? 'row_change' : 'security_event');
      expect(line).not.toContain('\n');
    });
  });

  it('gives readable fields that say what the audit rows say', async () => {
    const { messages } = await collect();
    const rows = (
      await admin.query(`
        select r.id::int, l.position::int, r.op, r.schema_name, r.table_name, r.record_id, r.old_data, r.new_data,
               r.changed_columns, r.actor_sub, r.actor_tenant, r.db_role, r.session_user_name, r.txid::text,
               to_char(r.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time
          from audit.row_changes r join ledger.entries l on l.source = 1 and l.source_id = r.id order by r.id`)
    ).rows;
    expect(rows.length).toBe(5);
    for (const row of rows) {
      const record = JSON.parse(messages[row.position]!) as Record<string, unknown>;
      expect(record).toMatchObject({
        source: 'row_change',
        id: row.id,
        time: row.time,
        txid: row.txid,
        op: row.op,
        schema: row.schema_name,
        table: row.table_name,
        record_id: row.record_id,
        changed_columns: row.changed_columns,
        actor: row.actor_sub,
        tenant: row.actor_tenant,
        db_role: row.db_role,
        session_user: row.session_user_name,
      });
      // Compared as JSON text: BIG does not survive JSON.parse.
      expect(messages[row.position]).toContain(`"old_data":${row.old_data === null ? 'null' : '{'}`);
    }
    const update = rows.find((r) => r.op === 'UPDATE')!;
    expect(update).toMatchObject({ actor_sub: sub, actor_tenant: 'tenant-a', changed_columns: ['qty', 'secret'] });
    expect(JSON.parse(messages[update.position]!)).toMatchObject({ actor: sub, tenant: 'tenant-a' });
  });

  it('gives readable fields that say what the security events say', async () => {
    const { messages } = await collect();
    const events = (
      await admin.query(`
        select e.id::int, l.position::int, e.event_type, e.severity, e.actor, e.subject, e.tenant, e.db_user, e.details,
               to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time
          from logs.notification_log e join ledger.entries l on l.source = 2 and l.source_id = e.id
         where e.event_type like 'test.%' order by e.id`)
    ).rows;
    expect(events).toHaveLength(6);
    for (const e of events) {
      const record = JSON.parse(messages[e.position]!) as Record<string, unknown>;
      expect(record).toMatchObject({
        source: 'security_event',
        id: e.id,
        time: e.time,
        event_type: e.event_type,
        severity: e.severity,
        actor: e.actor,
        subject: e.subject,
        tenant: e.tenant,
        db_user: e.db_user,
      });
      expect((record.details as { reason: string }).reason).toBe('a=b|c\\d\ne');
    }
  });

  it('names every leaf column, so a new column cannot go missing from exports', () => {
    for (const source of [LedgerSource.rowChange, LedgerSource.securityEvent]) {
      const names = readableNames(source);
      expect(names.map(([c]) => c)).toEqual(leafColumns[source]);
      expect(new Set(names.map(([, n]) => n)).size).toBe(names.length);
      for (const reserved of ['position', 'source', 'leaf_hash', 'leaf'])
        expect(names.map(([, n]) => n)).not.toContain(reserved);
    }
  });

  it('keeps numbers digit for digit (a bigint past 2^53, numeric scale)', async () => {
    const { messages } = await collect();
    const insert = messages.find((m) => m.includes('"op":"INSERT"') && m.includes('"name":"apple"'))!;
    const readable = insert.slice(0, insert.indexOf('"leaf":'));
    expect(readable).toContain(`"qty":${BIG}`);
    expect(readable).toContain('"price":1.50');
    const event = messages.find((m) => m.includes('"event_type":"test.critical"'))!;
    expect(event.slice(0, event.indexOf('"leaf":'))).toContain('"big":12345678901234567890');
  });

  it('keeps redacted columns redacted', async () => {
    const { messages } = await collect();
    const all = messages.join('\n');
    expect(all).not.toMatch(/top-secret/);
    expect(all).toContain('"secret":"[redacted]"');
  });

  it('times are ISO-8601 UTC with microseconds', () => {
    expect(isoMicros('1740821400123456')).toBe('2025-03-01T09:30:00.123456Z');
    expect(isoMicros('0')).toBe('1970-01-01T00:00:00.000000Z');
    expect(isoMicros('-1')).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('exports rows only once sealed, at the next positions', async () => {
    const size = await treeSize();
    await admin.query(`insert into shop.items values (3, 'plum', 1, 2, 'top-secret-4')`);
    expect((await collect({ after: size - 1 })).messages).toHaveLength(0);
    await sealAll(admin, masterKey);
    const { messages, last } = await collect({ after: size - 1 });
    expect(messages.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(messages[0]!)).toMatchObject({ position: size, op: 'INSERT', new_data: { name: 'plum' } });
    expect(last).toBe(size + messages.length - 1);
  });
});

describe('checkExportedRecord', () => {
  it('accepts every exported record and returns its position and leaf hash', async () => {
    const { messages, records } = await collect();
    messages.forEach((line, i) => {
      const checked = checkExportedRecord(line);
      expect(checked.position).toBe(i);
      expect(Buffer.from(checked.leafHash)).toEqual(Buffer.from(records[i]!.leafHash));
      expect(checked.leaf).toBe(records[i]!.leaf);
    });
  });

  it('refuses a record whose readable fields or leaf were edited, with PW434', async () => {
    const { messages } = await collect();
    const update = messages.find((m) => m.includes('"op":"UPDATE"'))!;
    const insert = messages.find((m) => m.includes('"name":"apple"') && m.includes('"op":"INSERT"'))!;
    const event = messages.find((m) => m.includes('"event_type":"test.critical"'))!;
    const other = JSON.parse(messages.find((m) => m.includes('"op":"INSERT"') && !m.includes(BIG))!) as {
      leaf: string;
      leaf_hash: string;
    };
    const edit = (line: string, fn: (o: Record<string, unknown>) => void) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      fn(o);
      return JSON.stringify(o);
    };
    const mutations: [string, string][] = [
      ['op changed', update.replace('"op":"UPDATE"', '"op":"DELETE"')],
      ['a data value changed', edit(update, (o) => ((o.new_data as Record<string, unknown>).name = 'plum'))],
      ['a data key added', edit(update, (o) => ((o.new_data as Record<string, unknown>).extra = 1))],
      [
        'time moved by one microsecond',
        update.replace(/("time":"[^"]*)(\d)Z"/, (_, a: string, d: string) => `${a}${(Number(d) + 1) % 10}Z"`),
      ],
      ['actor changed', edit(update, (o) => (o.actor = 'someone-else'))],
      ['a field added', edit(update, (o) => (o.note = 'harmless?'))],
      ['a field dropped', edit(update, (o) => delete o.actor)],
      ['a big number rounded', insert.replace(BIG, '9007199254740992')],
      ['numeric scale changed', insert.replace('"price":1.50', '"price":1.5')],
      ['the leaf edited', edit(update, (o) => (o.leaf = (o.leaf as string).replace('UPDATE', 'DELETE')))],
      ['the leaf hash swapped', edit(update, (o) => (o.leaf_hash = other.leaf_hash))],
      [
        'leaf and hash swapped for another row',
        edit(update, (o) => Object.assign(o, { leaf: other.leaf, leaf_hash: other.leaf_hash })),
      ],
      ['source changed', event.replace('"source":"security_event"', '"source":"row_change"')],
      ['severity lowered', event.replace('"severity":"critical"', '"severity":"info"')],
      ['details changed', event.replace('"reason":"a=b', '"reason":"x=b')],
      ['position negative', edit(update, (o) => (o.position = -1))],
      ['position a string', edit(update, (o) => (o.position = String(o.position)))],
      ['no leaf', edit(update, (o) => delete o.leaf)],
      ['a repeated key', update.replace('{"position"', '{"op":"INSERT","position"')],
      ['not JSON', update.slice(0, -1)],
      ['not an object', '[]'],
    ];
    expect(new Set(mutations.map(([, m]) => m)).size).toBe(mutations.length);
    for (const [what, line] of mutations) {
      expect(line, what).not.toBe(update);
      const err = refused(line);
      expect(err.code, what).toBe(ErrorCodes.LEDGER_PROOF_FAILED);
    }
  });

  it('ignores key order and whitespace: a re-serialised record still checks', async () => {
    const { messages } = await collect();
    const line = messages.find((m) => m.includes('"event_type":"audit.table_enabled"'))!;
    const o = JSON.parse(line) as Record<string, unknown>;
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(o).reverse()), null, 2);
    expect(checkExportedRecord(reordered).position).toBe(o.position);
  });
});

describe('paging with after and limit', () => {
  it('resumes exactly where the last run stopped: no gap, no repeat', async () => {
    const { messages: all } = await collect();
    const pages: string[] = [];
    let after: number | undefined;
    for (let runs = 0; runs < 100; runs++) {
      const { messages, last } = await collect({ after, limit: 3, pageSize: 2 });
      if (messages.length === 0) break;
      expect(messages.length).toBeLessThanOrEqual(3);
      pages.push(...messages);
      after = last!;
    }
    expect(pages).toEqual(all);
  });

  it('reads in pages smaller than the export', async () => {
    const { messages: all } = await collect();
    const { messages } = await collect({ pageSize: 1 });
    expect(messages).toEqual(all);
  });

  it('refuses a bad after or limit with PW423', async () => {
    for (const options of [{ after: -1 }, { after: 1.5 }, { limit: 0 }, { pageSize: 0 }]) {
      const err = await rejected(collect(options));
      expect(err.code).toBe(ErrorCodes.AUDIT_EXPORT);
      expect(err.hint).toBeTruthy();
    }
  });

  it('stops at a row changed after sealing (PW431), having delivered everything before it', async () => {
    const other = await installedDatabase();
    const c = new pg.Client(other);
    await c.connect();
    try {
      await c.query(`create table public.t (id int primary key, v text); select audit.enable('public.t')`);
      await c.query(`insert into public.t select g, 'v' || g from generate_series(1, 5) g`);
      await initLedger(c, { masterKey, hybrid: false });
      await sealAll(c, masterKey);
      const target = (
        await c.query(`select l.position::int from ledger.entries l join audit.row_changes r on l.source = 1 and r.id = l.source_id
                        where r.new_data->>'id' = '3'`)
      ).rows[0].position as number;
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query(
        `update audit.row_changes set new_data = jsonb_set(new_data, '{v}', '"forged"') where new_data->>'id' = '3'`,
      );
      await c.query('commit');
      const delivered: string[] = [];
      const err = await rejected(exportAuditTrail(c, { write: (m) => void delivered.push(m) }));
      expect(err.code).toBe(ErrorCodes.LEDGER_TAMPERED);
      expect(err.message).toContain(`ledger entry ${target}`);
      expect(delivered).toHaveLength(target);
      expect(err.detail).toContain(`resume with --after ${target - 1}`);
      // A deleted row stops it too, with the position to skip past once investigated.
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query(`delete from audit.row_changes where new_data->>'id' = '4'`);
      await c.query('commit');
      const gone = await rejected(exportAuditTrail(c, { after: target, write: () => undefined }));
      expect(gone.code).toBe(ErrorCodes.LEDGER_TAMPERED);
      expect(gone.message).toBe(`ledger entry ${target + 1}: row_change 4 was deleted after sealing`);
      expect(gone.detail).toContain(`nothing was delivered; resume with --after ${target}`);
    } finally {
      await c.end();
    }
  });

  it('stops at a row change archived by retention (PW423), or skips it with skipArchived', async () => {
    const other = await installedDatabase();
    const c = new pg.Client(other);
    await c.connect();
    try {
      await c.query(`create table public.t (id int primary key, v text); select audit.enable('public.t')`);
      await c.query(`insert into public.t select g, 'v' || g from generate_series(1, 3) g`);
      await c.query(`insert into public.t values (4, 'v4')`);
      await initLedger(c, { masterKey, hybrid: false });
      await sealAll(c, masterKey);
      const size = Number((await c.query('select count(*) n from ledger.entries')).rows[0].n);
      // What retention leaves behind, made by hand: the rows of a time range gone, the range recorded.
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query(
        `insert into audit.archived_partitions (partition_name, range_from, range_to, row_count, archive_name, archive_sha256)
         select 'audit.row_changes_y2000m01', min(recorded_at), max(recorded_at) + interval '1 microsecond', 3,
                'row_changes_y2000m01.jsonl', repeat('0', 64)
           from audit.row_changes where (new_data->>'id')::int <= 3`,
      );
      await c.query(`delete from audit.row_changes where (new_data->>'id')::int <= 3`);
      await c.query('commit');
      const archived = (
        await c.query(`select position::int from ledger.entries where source = 1 order by position limit 3`)
      ).rows.map((r) => r.position as number);
      const stopped = await rejected(exportAuditTrail(c, { write: () => undefined }));
      expect(stopped.code).toBe(ErrorCodes.AUDIT_EXPORT);
      expect(stopped.message).toBe(
        `ledger entry ${archived[0]}: row_change 1 was archived by retention (audit.row_changes_y2000m01, archive row_changes_y2000m01.jsonl)`,
      );
      expect(stopped.hint).toContain('--skip-archived');
      const skipped: number[] = [];
      const { messages, last } = await collect({ skipArchived: true, onSkip: (s) => skipped.push(s.position) }, c);
      expect(skipped).toEqual(archived);
      const positions = messages.map((m) => checkExportedRecord(m).position);
      expect([...positions, ...skipped].sort((a, b) => a - b)).toEqual([...Array(size).keys()]);
      expect(last).toBe(size - 1);
      // --limit counts records delivered, not entries skipped.
      expect((await collect({ skipArchived: true, limit: 1 }, c)).messages).toHaveLength(1);
    } finally {
      await c.end();
    }
  });
});

// ---- syslog -------------------------------------------------------------------------------

interface ParsedSyslog {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** SD-PARAM values unescaped. */
  params: Map<string, string>;
  /** SD-PARAM values as sent (escaped). */
  raw: Map<string, string>;
  msg: string | null;
}

const PARAM_VALUE = String.raw`(?:[^"\\\]]|\\["\\\]])*`;
const SYSLOG = new RegExp(
  String.raw`^<([0-9]{1,3})>1 ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) ` +
    String.raw`\[pgwarden@32473((?: [a-z_]{1,32}="${PARAM_VALUE}")+)\](?: (.*))?$`,
  's',
);

/** Parses one RFC 5424 message with pgwarden's SD element strictly; throws when it is not one. */
function parseSyslog(message: string): ParsedSyslog {
  const m = SYSLOG.exec(message);
  if (!m) throw new Error(`not an RFC 5424 message: ${message}`);
  const params = new Map<string, string>();
  const raw = new Map<string, string>();
  for (const p of m[7]!.matchAll(new RegExp(String.raw` ([a-z_]{1,32})="(${PARAM_VALUE})"`, 'g'))) {
    raw.set(p[1]!, p[2]!);
    params.set(p[1]!, p[2]!.replace(/\\(["\\\]])/g, '$1'));
  }
  return {
    pri: Number(m[1]),
    timestamp: m[2]!,
    hostname: m[3]!,
    appName: m[4]!,
    procId: m[5]!,
    msgId: m[6]!,
    params,
    raw,
    msg: m[8] ?? null,
  };
}

/** Splits an RFC 6587 octet-counted stream into its messages; throws on a bad frame. */
function parseOctetFrames(stream: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < stream.length) {
    const space = stream.indexOf(0x20, at);
    const len = stream.subarray(at, space).toString('latin1');
    if (space < 0 || !/^[1-9][0-9]{0,5}$/.test(len)) throw new Error(`bad frame length at byte ${at}`);
    const end = space + 1 + Number(len);
    if (end > stream.length) throw new Error(`frame at byte ${at} runs past the stream`);
    out.push(stream.subarray(space + 1, end).toString('utf8'));
    at = end;
  }
  return out;
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(test: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!test()) {
    if (Date.now() - start > ms) throw new Error('timed out waiting for the collector');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Exports as syslog through a real sender; resolves to the records sent. */
async function sendAll(transport: SyslogTransport, port: number, extra: Partial<ExportOptions> = {}, ca?: string) {
  const sender = await openSyslogSender({ host: '127.0.0.1', port, transport, ca });
  const records: ExportRecord[] = [];
  try {
    await exportAuditTrail(admin, {
      format: 'syslog',
      syslog: { hostname: 'db-1' },
      ...extra,
      write: async (m, r) => {
        records.push(r);
        await sender.send(m);
      },
    });
  } finally {
    await sender.close();
  }
  return records;
}

/** Checks a received message against the record it came from. */
function expectSyslogOf(message: string, record: ExportRecord, facility = 16) {
  const p = parseSyslog(message);
  const severity =
    record.source === 'row_change'
      ? 5
      : { critical: 2, error: 3, warning: 4, notice: 5, info: 6, debug: 7 }[record.fields.get('severity') as string]!;
  expect(p.pri).toBe(facility * 8 + severity);
  expect(p.timestamp).toBe(record.fields.get('time'));
  expect([p.hostname, p.appName, p.procId, p.msgId]).toEqual(['db-1', 'pgwarden', '-', record.source]);
  expect(p.params.get('position')).toBe(String(record.position));
  expect(p.params.get('source')).toBe(record.source);
  expect(p.params.get('leaf_hash')).toBe(Buffer.from(record.leafHash).toString('base64'));
  expect(p.params.get('id')).toBe(String((record.fields.get('id') as { text: string }).text));
  expect(message).not.toMatch(/^\uFEFF|\uFEFF/);
  return p;
}

describe('syslog (RFC 5424)', () => {
  it('sends one well-formed message per record over a real UDP socket', async () => {
    const collector = await udpCollector();
    try {
      const records = await sendAll('udp', collector.port);
      await until(() => collector.messages.length === records.length);
      collector.messages.forEach((m, i) => expectSyslogOf(m, records[i]!));
    } finally {
      await collector.close();
    }
  });

  it('sends octet-counted frames (RFC 6587) over a real TCP connection', async () => {
    const collector = await streamCollector();
    try {
      const records = await sendAll('tcp', collector.port);
      await until(() => {
        try {
          return parseOctetFrames(collector.received()).length === records.length;
        } catch {
          return false;
        }
      });
      const frames = parseOctetFrames(collector.received());
      frames.forEach((m, i) => expectSyslogOf(m, records[i]!));
      expect(
        collector
          .received()
          .toString('utf8')
          .startsWith(`${Buffer.byteLength(frames[0]!)} <`),
      ).toBe(true);
    } finally {
      await collector.close();
    }
  });

  it('escapes ] " and \\ in structured-data values, and keeps messages on one line', async () => {
    const { records, messages } = await collect({ format: 'syslog', syslog: { hostname: 'db-1' } });
    const row = records.findIndex((r) => r.fields.get('table') === ODD_TABLE);
    const p = expectSyslogOf(messages[row]!, records[row]!);
    expect(p.raw.get('table')).toBe('shop.odd\\]\\"\\\\name');
    expect(p.params.get('table')).toBe(`shop.${ODD_TABLE}`);
    const event = records.findIndex((r) => r.fields.get('actor') === ODD_ACTOR);
    const e = expectSyslogOf(messages[event]!, records[event]!);
    expect(e.raw.get('actor')).toBe('mallory\\]\\"\\\\|=x\uFFFDy');
    expect(e.params.get('subject')).toBe('subject|with=specials\\');
    for (const m of messages) expect(m).not.toMatch(/[\n\r]/);
    expect(escapeSdValue('a]b"c\\d')).toBe('a\\]b\\"c\\\\d');
  });

  it('uses the configured facilities: authpriv for security events', async () => {
    const { records, messages } = await collect({
      format: 'syslog',
      syslog: { hostname: 'db-1', facility: 'local3', securityFacility: 'authpriv' },
    });
    records.forEach((r, i) => expectSyslogOf(messages[i]!, r, r.source === 'row_change' ? 19 : 10));
    const critical = records.findIndex((r) => r.fields.get('severity') === 'critical');
    expect(messages[critical]!.startsWith('<82>1 ')).toBe(true);
  });

  it('cuts MSG to the size limit at a character boundary, never the header or SD', async () => {
    const { records } = await collect({ limit: 1 });
    const record = records[0]!;
    const whole = formatSyslog(record, { hostname: 'db-1' });
    const headLength = Buffer.byteLength(whole.slice(0, whole.indexOf('] ') + 1));
    const long = 'é'.repeat(600);
    const cut = formatSyslog(record, { hostname: 'db-1', maxBytes: headLength + 101, message: () => long });
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(headLength + 101);
    const p = expectSyslogOf(cut, record);
    expect(p.msg).toMatch(/^é+\.\.\.$/);
    expect(p.msg!.length).toBe(48 + 3);
    // Too small for even the SD: the SD is sent whole, without MSG.
    const bare = formatSyslog(record, { hostname: 'db-1', maxBytes: 10 });
    expect(bare).toBe(whole.slice(0, whole.indexOf('] ') + 1));
    expect(parseSyslog(bare).msg).toBeNull();
  });

  it('over UDP, cuts long messages to the size limit, the SD intact', async () => {
    const collector = await udpCollector();
    try {
      const records = await sendAll('udp', collector.port, {
        syslog: { hostname: 'db-1', maxBytes: 2048, message: () => 'x'.repeat(5000) },
      });
      await until(() => collector.messages.length === records.length);
      for (const [i, m] of collector.messages.entries()) {
        expect(Buffer.byteLength(m)).toBe(2048);
        expect(expectSyslogOf(m, records[i]!).msg).toMatch(/^x+\.\.\.$/);
      }
    } finally {
      await collector.close();
    }
  });

  it('refuses a destination that does not listen, or a bad port, with PW423', async () => {
    const port = await closedPort();
    const err = await rejected(openSyslogSender({ host: '127.0.0.1', port, transport: 'tcp' }));
    expect(err.code).toBe(ErrorCodes.AUDIT_EXPORT);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.hint).toContain('--syslog-host');
    expect((await rejected(openSyslogSender({ host: '127.0.0.1', port: 0, transport: 'udp' }))).code).toBe(
      ErrorCodes.AUDIT_EXPORT,
    );
    expect(
      (await rejected(openSyslogSender({ host: '127.0.0.1', port: 514, transport: 'quic' as SyslogTransport }))).code,
    ).toBe(ErrorCodes.AUDIT_EXPORT);
    // UDP learns of the refusal from the ICMP answer: a later send fails.
    const udp = await openSyslogSender({ host: '127.0.0.1', port, transport: 'udp' });
    const sendErr = await rejected(
      (async () => {
        for (let i = 0; i < 50; i++) {
          await udp.send('<13>1 - - - - - - x');
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
    );
    await udp.close();
    expect(sendErr.code).toBe(ErrorCodes.AUDIT_EXPORT);
  });

  it('frames messages by their length in bytes', () => {
    expect(octetFrame('<13>1 - - - - - - é')).toBe('20 <13>1 - - - - - - é');
  });
});

describe('syslog over TLS (RFC 5425)', () => {
  let tls: TlsOptions;
  let caFile: string;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-export-tls-'));
    dirs.push(dir);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    caFile = join(dir, 'cert.pem');
    tls = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(caFile) };
  });

  it('sends octet-counted frames to a collector whose certificate the given CA signed', async () => {
    const collector = await streamCollector(tls);
    try {
      const records = await sendAll('tls', collector.port, {}, await readFile(caFile, 'utf8'));
      await until(() => {
        try {
          return parseOctetFrames(collector.received()).length === records.length;
        } catch {
          return false;
        }
      });
      parseOctetFrames(collector.received()).forEach((m, i) => expectSyslogOf(m, records[i]!));
    } finally {
      await collector.close();
    }
  });

  it('refuses a collector whose certificate it cannot verify, with PW423', async () => {
    const collector = await streamCollector(tls);
    try {
      const err = await rejected(openSyslogSender({ host: '127.0.0.1', port: collector.port, transport: 'tls' }));
      expect(err.code).toBe(ErrorCodes.AUDIT_EXPORT);
      expect(err.message).toMatch(/SELF_SIGNED|CERT/);
    } finally {
      await collector.close();
    }
  });
});

// ---- CEF ----------------------------------------------------------------------------------

/** Splits a CEF event on its unescaped `|` into 7 header fields and the unescaped extensions. */
function parseCef(event: string): { header: string[]; extensions: Map<string, string> } {
  const fields: string[] = [];
  let current = '';
  let i = 0;
  for (; i < event.length && fields.length < 7; i++) {
    const c = event[i]!;
    if (c === '\\') {
      const next = event[i + 1];
      if (next !== '\\' && next !== '|') throw new Error(`bad header escape at ${i}`);
      current += next;
      i++;
    } else if (c === '|') {
      fields.push(current);
      current = '';
    } else {
      if (c < ' ') throw new Error('control character in the CEF header');
      current += c;
    }
  }
  if (fields.length !== 7 || fields[0] !== 'CEF:0') throw new Error(`not a CEF event: ${event}`);
  const ext = event.slice(i);
  const equals: number[] = [];
  for (let j = 0; j < ext.length; j++) {
    if (ext[j] === '\\') j++;
    else if (ext[j] === '=') equals.push(j);
    else if (ext[j]! < ' ') throw new Error('raw control character in the CEF extensions');
  }
  const keys = equals.map((eq) => {
    const start = ext.lastIndexOf(' ', eq) + 1;
    const key = ext.slice(start, eq);
    if (!/^[A-Za-z0-9_]+$/.test(key)) throw new Error(`bad extension key ${JSON.stringify(key)}`);
    return { start, eq, key };
  });
  const extensions = new Map<string, string>();
  keys.forEach((k, n) => {
    const end = n + 1 < keys.length ? keys[n + 1]!.start - 1 : ext.length;
    const value = ext.slice(k.eq + 1, end).replace(/\\(.)/g, (_, c: string) => {
      if (c === 'n') return '\n';
      if (c === 'r') return '\r';
      if (c === '\\' || c === '=') return c;
      throw new Error(`bad extension escape \\${c}`);
    });
    if (extensions.has(k.key)) throw new Error(`repeated extension ${k.key}`);
    extensions.set(k.key, value);
  });
  return { header: fields, extensions };
}

describe('CEF', () => {
  it('escapes | and \\ in the header, = \\ and newlines in extensions', () => {
    expect(escapeCefHeader('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(escapeCefValue('a=b\\c\nd\re\r\nf|g')).toBe('a\\=b\\\\c\\nd\\re\\nf|g');
  });

  it('formats every record as a CEF event carrying its ledger position and leaf hash', async () => {
    const { records, messages } = await collect({ format: 'cef', productVersion: '1.2.3' });
    messages.forEach((m, i) => {
      const r = records[i]!;
      const { header, extensions } = parseCef(m);
      expect(header.slice(0, 4)).toEqual(['CEF:0', 'pgwarden', 'pgwarden', '1.2.3']);
      expect(header[4]).toBe(
        r.source === 'row_change' ? `row.${r.fields.get('op') as string}` : r.fields.get('event_type'),
      );
      expect(extensions.get('cn1')).toBe(String(r.position));
      expect(extensions.get('cn1Label')).toBe('ledgerPosition');
      expect(extensions.get('cs1')).toBe(Buffer.from(r.leafHash).toString('base64'));
      expect(extensions.get('cs1Label')).toBe('leafHash');
      expect(extensions.get('cs2')).toBe(r.source);
      expect(Number(extensions.get('rt'))).toBe(Date.parse(`${(r.fields.get('time') as string).slice(0, 23)}Z`));
      expect(m).not.toMatch(/[\n\r]/);
    });
  });

  it('keeps | = \\ and newlines of the values intact through escaping', async () => {
    const { records, messages } = await collect({ format: 'cef', productVersion: '1.2.3' });
    const i = records.findIndex((r) => r.fields.get('actor') === ODD_ACTOR);
    const { header, extensions } = parseCef(messages[i]!);
    expect(header[6]).toBe('10');
    expect(header[5]).toContain(`actor=mallory]"\\|=x y`);
    expect(extensions.get('suser')).toBe(ODD_ACTOR);
    expect(extensions.get('duser')).toBe('subject|with=specials\\');
    expect(JSON.parse(extensions.get('msg')!)).toMatchObject({ reason: 'a=b|c\\d\ne' });
    const table = records.findIndex((r) => r.fields.get('table') === ODD_TABLE);
    expect(parseCef(messages[table]!).extensions.get('cs3')).toBe(`shop.${ODD_TABLE}`);
    expect(parseCef(messages[table]!).header[6]).toBe('4');
  });

  it('goes inside RFC 5424 messages to a syslog collector', async () => {
    const collector = await streamCollector();
    try {
      const records = await sendAll('tcp', collector.port, {
        format: 'cef',
        cefOverSyslog: true,
        productVersion: '1.2.3',
      });
      await until(() => {
        try {
          return parseOctetFrames(collector.received()).length === records.length;
        } catch {
          return false;
        }
      });
      parseOctetFrames(collector.received()).forEach((m, i) => {
        const p = expectSyslogOf(m, records[i]!);
        const { extensions } = parseCef(p.msg!);
        expect(extensions.get('cn1')).toBe(String(records[i]!.position));
      });
    } finally {
      await collector.close();
    }
  });

  it('formats a record on its own', async () => {
    for await (const record of readLedgerRecords(admin)) {
      if (record.source !== 'row_change') continue;
      expect(formatCef(record, { productVersion: '0.1.0' })).toMatch(
        /^CEF:0\|pgwarden\|pgwarden\|0\.1\.0\|row\.INSERT\|INSERT shop\.items record [0-9a-f-]{36} by postgres\|4\|cn1=\d+ /,
      );
      break;
    }
  });
});
