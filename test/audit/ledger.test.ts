import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, type MasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { parseCheckpoint, parseNote } from '../../src/audit/checkpoint/index.js';
import {
  initLedger,
  leafColumns,
  LedgerSource,
  rotateLedgerKeys,
  sealLedger,
  verifyLedger,
} from '../../src/audit/ledger/index.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// The ledger (sql/ledger + src/audit/ledger) against fresh clones: sealing order, crash safety,
// and every kind of tampering a superuser can do, found by the verifier with its position.
const masterKey: MasterKey = parseMasterKey(generateMasterKey());

async function ledgerDb(rows = 0): Promise<{ db: ConnectionConfig; admin: pg.Client }> {
  const db = await installedDatabase();
  const admin = new pg.Client(db);
  await admin.connect();
  await admin.query(`
    create table public.notes (id int primary key, body text, score numeric, at timestamptz default now());
    select audit.enable('public.notes');
  `);
  await initLedger(admin, { masterKey });
  if (rows > 0) {
    await admin.query(
      `insert into public.notes (id, body, score) select g, 'note ' || g, g / 7.0 from generate_series(1, $1) g`,
      [rows],
    );
  }
  return { db, admin };
}

/** As a superuser with triggers off: what an attacker with full database access does. */
async function tamper(admin: pg.Client, sql: string, values: unknown[] = []): Promise<void> {
  await admin.query('begin');
  await admin.query('set local session_replication_role = replica');
  await admin.query(sql, values);
  await admin.query('commit');
}

const positionOf = async (admin: pg.Client, id: number) =>
  Number(
    (
      await admin.query(
        `select l.position from ledger.entries l join audit.row_changes r on r.id = l.source_id and l.source = 1
          where r.new_data->>'id' = $1 and r.op = 'INSERT'`,
        [String(id)],
      )
    ).rows[0].position,
  );

describe('sealing', () => {
  let db: ConnectionConfig;
  let admin: pg.Client;
  beforeAll(async () => {
    ({ db, admin } = await ledgerDb(50));
  });
  afterAll(async () => admin?.end());

  it('seals every committed audit row and security event, in (txid, source, id) order, under a hybrid checkpoint', async () => {
    await sealAll(admin, masterKey);
    const result = await sealLedger(admin, { masterKey });
    const counts = (
      await admin.query(
        `select (select count(*) from audit.row_changes)::int as rows, (select count(*) from logs.notification_log)::int as events,
                (select count(*) from ledger.entries)::int as entries`,
      )
    ).rows[0];
    expect(counts.rows).toBe(50);
    expect(counts.entries).toBe(counts.rows + counts.events);
    expect(result.treeSize).toBe(counts.entries);
    const order = (
      await admin.query(`select txid::text, source, source_id::text from ledger.entries order by position`)
    ).rows.map((r) => [BigInt(r.txid), r.source, BigInt(r.source_id)] as const);
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1]!, order[i]!];
      expect(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))).toBe(true);
    }
    const note = parseNote(result.checkpoint!);
    expect(parseCheckpoint(note.text).size).toBe(result.treeSize);
    expect(note.signatures).toHaveLength(2);
    const report = await verifyLedger(admin, { masterKey });
    expect(report).toMatchObject({
      status: 'ok',
      treeSize: result.treeSize,
      verifiedSize: result.treeSize,
      findings: [],
    });
    expect(report.keyTrust).toBe('master-key');
  });

  it('leaves nothing of a rolled-back transaction and reports no break [A-02]', async () => {
    const before = await sealAll(admin, masterKey);
    await admin.query('begin');
    await admin.query(`insert into public.notes (id, body) values (1000, 'rolled back')`);
    await admin.query('rollback');
    await admin.query(`insert into public.notes (id, body) values (1001, 'kept')`);
    expect(await sealAll(admin, masterKey)).toBe(before + 1);
    expect((await verifyLedger(admin, { masterKey })).status).toBe('ok');
  });

  it('records each clean verification as a ledger.verified security event, the scanner reads its age', async () => {
    await sealAll(admin, masterKey);
    const report = await verifyLedger(admin, { masterKey });
    expect(report.status).toBe('ok');
    const { rows } = await admin.query(
      `select severity, details from logs.notification_log where event_type = 'ledger.verified' order by id desc limit 1`,
    );
    expect(rows[0]).toMatchObject({
      severity: 'info',
      details: { tree_size: report.treeSize, verified_size: report.verifiedSize, key_trust: report.keyTrust },
    });
  });

  it('never seals past a transaction still in flight, and seals it in order once it commits', async () => {
    await sealAll(admin, masterKey); // the ledger.verified events of earlier verifications
    const slow = new pg.Client(db);
    await slow.connect();
    try {
      await slow.query('begin');
      await slow.query(`insert into public.notes (id, body) values (2000, 'slow')`);
      await admin.query(`insert into public.notes (id, body) values (2001, 'fast')`);
      const during = await sealLedger(admin, { masterKey });
      const sealedIds = async () =>
        (
          await admin.query(
            `select r.new_data->>'id' as id from ledger.entries l join audit.row_changes r on l.source = 1 and r.id = l.source_id
              where r.new_data->>'id' in ('2000', '2001') order by l.position`,
          )
        ).rows.map((r) => r.id);
      expect(await sealedIds()).toEqual([]);
      expect(during.sealed).toBe(0);
      await slow.query('commit');
      await sealAll(admin, masterKey);
      expect(await sealedIds()).toEqual(['2000', '2001']);
    } finally {
      await slow.end();
    }
  });

  it('hashes a leaf text exactly as RFC 6962 hashes its UTF-8 bytes', async () => {
    const { leafHash } = await import('../../src/audit/merkle/index.js');
    const { leafHashOfText } = await import('../../src/audit/ledger/index.js');
    for (const text of ['', '["pgwarden.row/1", 1]', 'é ✓ 𝄞 "\\u0000"']) {
      expect(Buffer.from(leafHashOfText(text))).toEqual(Buffer.from(leafHash(Buffer.from(text, 'utf8'))));
    }
  });

  it('covers every column of both source tables in the leaf encoding [A-05]', async () => {
    for (const [source, table] of [
      [LedgerSource.rowChange, 'audit.row_changes'],
      [LedgerSource.securityEvent, 'logs.notification_log'],
    ] as const) {
      const columns = (
        await admin.query(
          `select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
          [table],
        )
      ).rows.map((r) => r.attname);
      expect([...leafColumns[source]].sort()).toEqual([...columns].sort());
    }
  });

  it('stops, sealing nothing, when transaction ids are behind its cursor (a restore into another cluster)', async () => {
    await sealAll(admin, masterKey);
    await admin.query(`begin; set local session_replication_role = replica;
      update ledger.state set cursor_txid = '9000000000'; commit`);
    await admin.query(`insert into public.notes (id, body) values (3000, 'after restore')`);
    const err = await sealLedger(admin, { masterKey }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PW436' });
    await admin.query(`begin; set local session_replication_role = replica;
      update ledger.state set cursor_txid = (select max(txid) from ledger.entries); commit`);
    expect((await sealLedger(admin, { masterKey })).sealed).toBe(1);
  });

  it('refuses a second sealer while one holds the lock, sealing nothing twice', async () => {
    const other = new pg.Client(db);
    await other.connect();
    try {
      await other.query('begin');
      await other.query('lock table ledger.state in exclusive mode');
      const err = await sealLedger(admin, { masterKey, lockTimeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PW435' });
      await other.query('rollback');
    } finally {
      await other.end();
    }
  });
});

describe('tampering, found with its position', () => {
  let admin: pg.Client;
  let db: ConnectionConfig;
  let sealedSize: number;
  beforeAll(async () => {
    ({ db, admin } = await ledgerDb(0));
  });
  afterAll(async () => admin?.end());

  // Each case starts from a fresh clone of a database sealed with 600 rows.
  async function fresh(): Promise<pg.Client> {
    const { admin: c } = await ledgerDb(600);
    await sealLedger(c, { masterKey, batchSize: 250 });
    sealedSize = await sealAll(c, masterKey);
    expect((await verifyLedger(c, { masterKey })).status).toBe('ok');
    opened.push(c);
    return c;
  }
  const opened: pg.Client[] = [];
  afterAll(async () => {
    for (const c of opened) await c.end();
  });

  it('finds a payload edit at its exact position [A-04]', async () => {
    const c = await fresh();
    const position = await positionOf(c, 500);
    await tamper(
      c,
      `update audit.row_changes set new_data = jsonb_set(new_data, '{body}', '"edited"') where new_data->>'id' = '500'`,
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.status).toBe('tampered');
    expect(report.firstBadPosition).toBe(position);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'modified', position, source: 'row_change' })]);
    // Small pages (several in flight) find exactly the same.
    const paged = await verifyLedger(c, { masterKey, pageSize: 7, recordEvent: false });
    expect(paged.findings).toEqual(report.findings);
    expect(paged.treeSize).toBe(report.treeSize);
    const event = (
      await c.query(`select severity, details from logs.notification_log where event_type = 'ledger.tamper_detected'`)
    ).rows;
    expect(event).toHaveLength(1);
    expect(event[0]).toMatchObject({ severity: 'critical', details: { first_bad_position: position } });
  });

  it.each([
    [
      'the timestamp',
      `update audit.row_changes set recorded_at = recorded_at + interval '1 microsecond' where new_data->>'id' = '42'`,
    ],
    ['the actor', `update audit.row_changes set actor_sub = 'someone-else' where new_data->>'id' = '42'`],
    ['the table name', `update audit.row_changes set table_name = 'other' where new_data->>'id' = '42'`],
    ['the database role', `update audit.row_changes set db_role = 'pgw_auditor' where new_data->>'id' = '42'`],
    [
      'the transaction id',
      `update audit.row_changes set txid = (txid::text::bigint + 1)::text::xid8 where new_data->>'id' = '42'`,
    ],
  ])('finds an edit of %s alone [A-05]', async (_what, sql) => {
    const c = await fresh();
    const position = await positionOf(c, 42);
    await tamper(c, sql);
    const report = await verifyLedger(c, { masterKey });
    expect(report.status).toBe('tampered');
    expect(report.findings).toContainEqual(expect.objectContaining({ kind: 'modified', position }));
    expect(report.firstBadPosition).toBe(position);
  });

  it('finds an edited security event', async () => {
    const c = await fresh();
    const id = (await c.query(`select min(id)::text as id from logs.notification_log`)).rows[0].id;
    await tamper(c, `update logs.notification_log set severity = 'debug' where id = $1`, [id]);
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'modified', source: 'security_event', id })]);
  });

  it('finds a deleted row in the middle at its position [A-06]', async () => {
    const c = await fresh();
    const position = await positionOf(c, 300);
    await tamper(c, `delete from audit.row_changes where new_data->>'id' = '300'`);
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'deleted', position })]);
  });

  it('finds two swapped entries as reordered [A-07]', async () => {
    const c = await fresh();
    const [a, b] = [await positionOf(c, 100), await positionOf(c, 200)];
    await tamper(
      c,
      `update ledger.entries set position = 1000000000 where position = $1;
       update ledger.entries set position = $1 where position = $2;
       update ledger.entries set position = $2 where position = 1000000000`
        .replace(/\$1/g, String(a))
        .replace(/\$2/g, String(b)),
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.status).toBe('tampered');
    expect(report.findings.filter((f) => f.kind === 'reordered').map((f) => f.position)).toEqual([a, b]);
    expect(report.findings.find((f) => f.kind === 'rewritten')).toBeDefined();
  });

  it('finds a forged row added below the sealed horizon [A-08]', async () => {
    const c = await fresh();
    await tamper(
      c,
      `insert into audit.row_changes (txid, table_oid, schema_name, table_name, op, new_data, db_role)
       values ('3', 'public.notes'::regclass, 'public', 'notes', 'INSERT', '{"id": 9999}', 'postgres')`,
    );
    await sealLedger(c, { masterKey });
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'inserted', position: null, source: 'row_change' }),
    ]);
  });

  it('finds a forged ledger entry with a correctly computed hash at the position it was slipped in [A-08]', async () => {
    const c = await fresh();
    const at = await positionOf(c, 250);
    // Shift every later entry up by one and slip a fabricated, well-formed entry in at `at`.
    await tamper(c, `update ledger.entries set position = position + 1000000001 where position >= ${at}`);
    await tamper(c, `update ledger.entries set position = position - 1000000000 where position > 1000000000`);
    await tamper(
      c,
      `insert into audit.row_changes (table_oid, schema_name, table_name, op, new_data, db_role)
       values ('public.notes'::regclass, 'public', 'notes', 'INSERT', '{"id": 7777}', 'postgres')`,
    );
    const forged = (
      await c.query(
        `select id::text, txid::text, recorded_at, ${'pg_catalog.jsonb_build_array'}('x') as unused from audit.row_changes where new_data->>'id' = '7777'`,
      )
    ).rows[0];
    const { leafTextSql, leafHashOfText } = await import('../../src/audit/ledger/index.js');
    const leaf = (
      await c.query(
        `select ${leafTextSql(LedgerSource.rowChange, 'r')} as t from audit.row_changes r where r.id = $1`,
        [forged.id],
      )
    ).rows[0].t as string;
    await tamper(
      c,
      `insert into ledger.entries (position, source, source_id, txid, recorded_at, leaf_hash) values ($1, 1, $2, $3, $4, $5)`,
      [at, forged.id, forged.txid, forged.recorded_at, Buffer.from(leafHashOfText(leaf))],
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.status).toBe('tampered');
    expect(report.firstBadPosition).toBeLessThanOrEqual(at);
    expect(report.findings.find((f) => f.kind === 'rewritten')).toMatchObject({ position: expect.any(Number) });
    expect(report.findings.find((f) => f.kind === 'rewritten')!.from!).toBeLessThanOrEqual(at);
  });

  it('finds a truncated tail against a trusted checkpoint, and never calls an uncovered tail OK [A-09]', async () => {
    const c = await fresh();
    const trusted = (await c.query(`select note from ledger.checkpoints order by tree_size desc limit 1`)).rows[0].note;
    const keep = sealedSize - 5;
    // The attacker removes the last five entries, their rows, the checkpoints that cover them, and winds the state back.
    await tamper(
      c,
      `delete from audit.row_changes r using ledger.entries l where l.source = 1 and l.source_id = r.id and l.position >= ${keep}`,
    );
    await tamper(
      c,
      `delete from logs.notification_log e using ledger.entries l where l.source = 2 and l.source_id = e.id and l.position >= ${keep}`,
    );
    await tamper(c, `delete from ledger.entries where position >= ${keep}`);
    await tamper(c, `delete from ledger.checkpoints where tree_size > ${keep}`);
    await tamper(c, `update ledger.state set tree_size = ${keep}`);
    const withTrust = await verifyLedger(c, { masterKey, trustedCheckpoint: trusted });
    expect(withTrust.status).toBe('tampered');
    expect(withTrust.findings).toContainEqual(expect.objectContaining({ kind: 'truncated', position: keep }));

    // Entries past the newest checkpoint (its note deleted) are "unverified beyond", not OK.
    const d = await fresh();
    const covered = Number(
      (await d.query(`select max(tree_size) as s from ledger.checkpoints where tree_size < $1`, [sealedSize])).rows[0]
        .s,
    );
    await tamper(d, `delete from ledger.checkpoints where tree_size > ${covered}`);
    const report = await verifyLedger(d, { masterKey });
    expect(report).toMatchObject({ status: 'unverified', verifiedSize: covered, treeSize: sealedSize });
  });

  it('finds a full rewrite of rows and stored hashes by the signed checkpoints it cannot forge', async () => {
    const c = await fresh();
    const position = await positionOf(c, 123);
    await tamper(
      c,
      `update audit.row_changes set new_data = jsonb_set(new_data, '{body}', '"rewritten"') where new_data->>'id' = '123'`,
    );
    const { leafTextSql, leafHashOfText } = await import('../../src/audit/ledger/index.js');
    const leaf = (
      await c.query(
        `select ${leafTextSql(LedgerSource.rowChange, 'r')} as t from audit.row_changes r where r.new_data->>'id' = '123'`,
      )
    ).rows[0].t as string;
    await tamper(c, `update ledger.entries set leaf_hash = $1 where position = $2`, [
      Buffer.from(leafHashOfText(leaf)),
      position,
    ]);
    const report = await verifyLedger(c, { masterKey });
    expect(report.status).toBe('tampered');
    const rewrite = report.findings.find((f) => f.kind === 'rewritten')!;
    expect(rewrite.from!).toBeLessThanOrEqual(position);
    expect(rewrite.position!).toBeGreaterThanOrEqual(position);
  });

  it('refuses a stored checkpoint whose note was edited', async () => {
    const c = await fresh();
    await tamper(
      c,
      `update ledger.checkpoints set note = replace(note, '\n' || tree_size || '\n', '\n' || (tree_size + 1) || '\n') where tree_size = (select min(tree_size) from ledger.checkpoints)`,
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings).toContainEqual(expect.objectContaining({ kind: 'forged_checkpoint' }));
  });

  it('gives the same result under other TimeZone, DateStyle and extra_float_digits settings [A-19]', async () => {
    const c = await fresh();
    await c.query(
      `set timezone = 'Pacific/Chatham'; set datestyle = 'SQL, DMY'; set extra_float_digits = 3; set intervalstyle = 'iso_8601'`,
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report).toMatchObject({ status: 'ok', treeSize: sealedSize });
    void db;
  });
});

describe('attacks on the sealer and the verifier themselves', () => {
  const opened: pg.Client[] = [];
  afterAll(async () => {
    for (const c of opened) await c.end();
  });
  async function sealed(rows = 60): Promise<{ c: pg.Client; db: ConnectionConfig }> {
    const { admin: c, db } = await ledgerDb(rows);
    opened.push(c);
    await sealLedger(c, { masterKey, batchSize: 25 });
    await sealAll(c, masterKey);
    return { c, db };
  }

  it('refuses to sign over a Merkle frontier edited in ledger.state', async () => {
    const { c } = await sealed();
    const state = (await c.query(`select compact_range from ledger.state`)).rows[0].compact_range;
    const forged = { ...state, hashes: state.hashes.map(() => Buffer.alloc(32, 7).toString('base64')) };
    await tamper(c, `update ledger.state set compact_range = $1`, [JSON.stringify(forged)]);
    await c.query(`insert into public.notes (id, body) values (5000, 'next')`);
    const err = await sealLedger(c, { masterKey }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PW431' });
    expect(
      (
        await c.query(
          `select count(*)::int as n from ledger.entries where position >= (select max(tree_size) from ledger.checkpoints)`,
        )
      ).rows[0].n,
    ).toBe(0);
  });

  it('refuses a key history rolled back to an older version [A-16]', async () => {
    const { c } = await sealed();
    await rotateLedgerKeys(c, { masterKey });
    const v1 = (await c.query(`select note from ledger.key_history where version = 1`)).rows[0].note;
    await tamper(c, `insert into ledger.key_history (version, note) values (3, $1)`, [v1]);
    await expect(verifyLedger(c, { masterKey })).rejects.toMatchObject({ code: 'PW407' });
    await expect(sealLedger(c, { masterKey })).rejects.toMatchObject({ code: 'PW432' });
  });

  it('says unverified, never OK, when only the database vouches for the keys', async () => {
    const { c } = await sealed();
    expect(await verifyLedger(c, {})).toMatchObject({ status: 'unverified', keyTrust: 'database', findings: [] });
  });

  it('still finds an edit hidden behind a CREATE CAST (jsonb AS text)', async () => {
    const { c } = await sealed();
    const position = await positionOf(c, 10);
    await c.query(`create function public.evil(jsonb) returns text language sql immutable as $$ select 'constant' $$;
      create cast (jsonb as text) with function public.evil(jsonb)`);
    await tamper(
      c,
      `update audit.row_changes set new_data = jsonb_set(new_data, '{body}', '"edited"') where new_data->>'id' = '10'`,
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'modified', position })]);
  });

  it('signs every batch with the keys valid at its size when the keys rotate mid-run [A-16]', async () => {
    const { admin: c, db } = await ledgerDb(100);
    opened.push(c);
    const other = new pg.Client(db);
    await other.connect();
    opened.push(other);
    let rotated = false;
    await sealLedger(c, {
      masterKey,
      batchSize: 30,
      onBatch: async () => {
        if (!rotated) {
          rotated = true;
          await rotateLedgerKeys(other, { masterKey });
        }
      },
    });
    const report = await verifyLedger(c, { masterKey });
    expect(report).toMatchObject({ status: 'ok' });
    expect(report.checkpoints.valid).toBe(report.checkpoints.stored);
  });

  it('reports rows written with a future transaction id or a reused id as inserted [A-08]', async () => {
    const { c } = await sealed();
    await tamper(
      c,
      `insert into audit.row_changes (txid, table_oid, schema_name, table_name, op, new_data, db_role)
       values ('99999999999', 'public.notes'::regclass, 'public', 'notes', 'INSERT', '{"id": 1}', 'x')`,
    );
    const id = (await c.query(`select min(id) as id from audit.row_changes`)).rows[0].id;
    await tamper(
      c,
      `insert into audit.row_changes (id, recorded_at, table_oid, schema_name, table_name, op, new_data, db_role)
       overriding system value values ($1, now() + interval '1 second', 'public.notes'::regclass, 'public', 'notes', 'INSERT', '{"id": 2}', 'x')`,
      [id],
    );
    const report = await verifyLedger(c, { masterKey });
    expect(report.findings.filter((f) => f.kind === 'inserted')).toHaveLength(2);
  });

  it('refuses a JSON null or a shifted array where the encoding needs one form per value', async () => {
    const { c } = await sealed(1);
    for (const sql of [
      `update audit.row_changes set new_data = 'null'::jsonb`,
      `update audit.row_changes set changed_columns = '[2:2]={x}'::text[]`,
      `update audit.row_changes set recorded_at = 'infinity'`,
    ]) {
      await expect(tamper(c, sql)).rejects.toMatchObject({ code: '23514' });
      await c.query('rollback').catch(() => undefined);
    }
  });
});
