import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { CopyLeafReader, copyRows } from '../../src/audit/ledger/copy-leaves.js';
import {
  leafColumns,
  leafFieldsSql,
  leafFieldTypes,
  leafHashOfText,
  LedgerSource,
  leafTextFromFields,
  leafTextSql,
  rawTextTypes,
  sourceTables,
} from '../../src/audit/ledger/encoding.js';
import { initLedger, sealLedger, verifyLedger } from '../../src/audit/ledger/index.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// The leaf encoding built in Node (leafFieldsSql + leafTextFromFields: what the sealer, the
// verifier, retention and the export use) against its definition in SQL (leafTextSql): the
// same text, byte for byte, for adversarial rows of both sources, whatever the session settings.
const masterKey = parseMasterKey(generateMasterKey());
let admin: pg.Client;

// Every character jsonb escapes, and neighbours it must not: C0 controls, DEL, C1 controls,
// quotes, backslashes, '/', line and paragraph separators, a BOM, non-BMP characters.
const controls = Array.from({ length: 0x1f }, (_, i) => String.fromCharCode(i + 1)).join('');
const tricky = `${controls}\u007f\u0080\u009f"\\/\\u0041\u2028\u2029\ufeffé😀𝄞 中文 עברית e\u0301`;

const SOURCES = [LedgerSource.rowChange, LedgerSource.securityEvent] as const;

/** Each row's leaf text by leafTextSql, and its leaf hash computed by the server, by id. */
async function sqlLeaves(c: pg.Client, source: LedgerSource): Promise<Map<string, { leaf: string; hash: string }>> {
  const { rows } = await c.query<{ id: string; leaf: string; hash: string }>(
    `select x.id::text, l.leaf,
            pg_catalog.encode(pg_catalog.sha256(pg_catalog.decode('00', 'hex') operator(pg_catalog.||) pg_catalog.convert_to(l.leaf, 'UTF8')), 'hex') as hash
       from ${sourceTables[source]} x, lateral (select ${leafTextSql(source, 'x')} as leaf) l`,
  );
  return new Map(rows.map((r) => [r.id, { leaf: r.leaf, hash: r.hash }]));
}

/** Each row's leaf text built in Node from leafFieldsSql, by id. */
async function nodeLeaves(c: pg.Client, source: LedgerSource): Promise<Map<string, string>> {
  const { rows } = await c.query<(string | null)[]>({
    text: `select x.id, ${leafFieldsSql(source, 'x')} from ${sourceTables[source]} x`,
    rowMode: 'array',
    types: rawTextTypes,
  });
  return new Map(rows.map((r) => [r[0]!, leafTextFromFields(source, r, 1)]));
}

/** Each row's leaf text and hash built from COPY's bytes by CopyLeafReader, by id. */
async function copyLeaves(c: pg.Client, source: LedgerSource): Promise<Map<string, { leaf: string; hash: string }>> {
  const out = new Map<string, { leaf: string; hash: string }>();
  const reader = new CopyLeafReader();
  await copyRows(
    c,
    `copy (select x.id, ${leafFieldsSql(source, 'x')} from ${sourceTables[source]} x) to stdout`,
    (row) => {
      reader.reset(row);
      const id = reader.text()!;
      const hash = Buffer.from(reader.leafHash(source)).toString('hex');
      out.set(id, { leaf: reader.leafText(), hash });
    },
  );
  return out;
}

async function expectParity(c: pg.Client): Promise<number> {
  await c.query('begin');
  await c.query(`select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`);
  let compared = 0;
  try {
    for (const source of SOURCES) {
      const expected = await sqlLeaves(c, source);
      const built = await nodeLeaves(c, source);
      const copied = await copyLeaves(c, source);
      expect([...built.keys()].sort()).toEqual([...expected.keys()].sort());
      expect([...copied.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [id, leaf] of built) {
        expect(leaf, `${sourceTables[source]} ${id}`).toBe(expected.get(id)!.leaf);
        expect(Buffer.from(leafHashOfText(leaf)).toString('hex')).toBe(expected.get(id)!.hash);
        expect(copied.get(id), `${sourceTables[source]} ${id} from COPY`).toEqual(expected.get(id));
        compared += 1;
      }
    }
  } finally {
    await c.query('rollback');
  }
  return compared;
}

beforeAll(async () => {
  const db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  await admin.query(`
    create table public.tricky (
      id int primary key, body text, amount numeric, ratio float8, small real, doc jsonb, tags text[], at timestamptz,
      raw bytea, ip inet, uid uuid, nums int[], big bigint, secret text, skip text);
    select audit.enable('public.tricky', '{skip}', '{secret}');
  `);
  await initLedger(admin, { masterKey });
  // Through the capture trigger: inserts, an update, a delete and a truncate.
  await admin.query(
    `insert into public.tricky values
       (1, $1, 12345678901234567890.123456789, 1e+20, 1e-7, $2::jsonb, $3::text[], '0001-01-01 00:00:00+00 BC',
        '\\x00ff', '::1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', 9223372036854775807, 's', 'x'),
       (2, '', -0.0, 'Infinity', 'NaN', '{}', '{}', 'infinity', '', '2001:db8::1/64', null, '{}', -9223372036854775808, null, null),
       (3, null, 'NaN', -0.0, -1.5e-38, '{"a": [[], {}, [null]], "b": {"c": {"d": 1.50}}}', '{NULL}', '294276-12-31 23:59:59.999999+00',
        null, '10.0.0.0/8', null, null, null, null, null),
       (4, 'plain', 1e-20, 0.1, 3.4e38, '[1, "two", false]', '{"a,b","c\\"d","é😀"}', '1969-12-31 23:59:59.999999+00',
        null, '::ffff:1.2.3.4', null, null, 0, $1, $1)`,
    [
      tricky,
      JSON.stringify({ [tricky]: tricky, 'k"ey': [1, 2.5, { x: null }], '': {}, e: [], big: 1e20, small: 1e-7 }),
      [tricky, '', 'NULL', 'a b'],
    ],
  );
  await admin.query(`update public.tricky set body = $1 || body, amount = amount * 3, tags = '{}' where id in (1, 2)`, [
    '√',
  ]);
  await admin.query(`delete from public.tricky where id = 3`);
  await admin.query(`truncate public.tricky`);
  await admin.query(`select logs.log_event('test.tricky', 'critical', $1, $2, $3, $4::jsonb, gen_random_uuid())`, [
    tricky,
    '"\\/',
    'tenant/😀',
    JSON.stringify({ nested: { arr: [1e20, -0, 1.5, 'a\u0007'] }, [tricky]: null }),
  ]);
  await admin.query(`select logs.log_event('test.plain')`);
  // Written by hand (as a superuser), to fill every column with edge values: the oid and xid8
  // maxima, IPv6 addresses, times before 1970 and far ahead, the WAL capture's nulls.
  await admin.query(
    `insert into audit.row_changes (recorded_at, source_txid, table_oid, schema_name, table_name, op, record_id, old_data,
                                    new_data, changed_columns, actor_sub, actor_tenant, db_role, session_user_name,
                                    client_addr, application_name, capture)
     values ('1960-02-29 12:00:00.000001+00', '18446744073709551615', 4294967295, $1, $1, 'UPDATE', gen_random_uuid(),
             '{"a": "\\u001f"}', '{"a": {"b": [[]]}}', array[$1, '', null], $1, 'ténant😀', 'role"x', null,
             '2001:db8::ff00:42:8329', $1, 'wal'),
            ('9999-12-31 23:59:59.999999+00', '0', 0, 's', 't', 'DELETE', null, null, null, null, null, null, null, null,
             null, null, 'trigger')`,
    [tricky],
  );
  await admin.query(
    `insert into logs.notification_log (occurred_at, event_type, severity, actor, subject, tenant, client_addr,
                                        application_name, session_id, details, db_user, source_addr)
     values ('1970-01-01 00:00:00+00', 'test.by-hand', 'debug', null, null, null, 'fe80::1/10', $1, null, '{}', null,
             '::ffff:10.0.0.1'),
            (clock_timestamp(), 'test.by-hand', 'info', $1, $1, $1, '0.0.0.0/0', null, gen_random_uuid(),
             '{"k": [1e-20, 12345678901234567890]}', $1, '255.255.255.255')`,
    [tricky],
  );
});
afterAll(async () => admin?.end());

describe('leafTextFromFields and CopyLeafReader', () => {
  it('gives every column of leafColumns a type, matching its type in the database', async () => {
    const names: Record<string, string> = { timestamptz: 'timestamp with time zone' };
    for (const source of SOURCES) {
      const { rows } = await admin.query<{ attname: string; type: string }>(
        `select attname, atttypid::regtype::text as type from pg_attribute
          where attrelid = $1::regclass and attnum > 0 and not attisdropped`,
        [sourceTables[source]],
      );
      const actual = new Map(rows.map((r) => [r.attname, r.type]));
      for (const column of leafColumns[source]) {
        const type = leafFieldTypes[column];
        expect(type, `${sourceTables[source]}.${column} has no leaf field type`).toBeDefined();
        expect(names[type!] ?? type, `${sourceTables[source]}.${column}`).toBe(actual.get(column));
      }
    }
  });

  it('escapes every string exactly as jsonb does: controls, DEL, quotes, backslashes, /, non-BMP', async () => {
    const samples = [
      ...Array.from({ length: 0x7f }, (_, i) => String.fromCharCode(i + 1)),
      '\u0080',
      '\u2028',
      '😀',
      '𝄞',
      tricky,
    ];
    const { rows } = await admin.query<{ j: string }>(
      `select pg_catalog.format('%s', pg_catalog.to_jsonb(s)) as j from pg_catalog.unnest($1::text[]) with ordinality u(s, o) order by o`,
      [samples],
    );
    expect(rows.map((r) => r.j)).toEqual(samples.map((s) => JSON.stringify(s)));
  });

  it('build the same leaf text and hash as leafTextSql for every audit row and security event', async () => {
    expect(await expectParity(admin)).toBeGreaterThanOrEqual(15);
  });

  it('build the same leaf text whatever the session TimeZone, DateStyle, extra_float_digits and bytea_output', async () => {
    await admin.query(`set TimeZone = 'Asia/Kathmandu'; set DateStyle = 'SQL, DMY'; set extra_float_digits = -15;
                       set IntervalStyle = 'sql_standard'; set bytea_output = 'escape'`);
    try {
      expect(await expectParity(admin)).toBeGreaterThanOrEqual(15);
    } finally {
      await admin.query('reset all');
    }
  });

  it('writes SQL NULL as null and refuses too few fields', () => {
    const nulls = leafColumns[LedgerSource.securityEvent].map(() => null);
    expect(leafTextFromFields(LedgerSource.securityEvent, nulls)).toBe(
      `["pgwarden.event/1", ${nulls.map(() => 'null').join(', ')}]`,
    );
    expect(() => leafTextFromFields(LedgerSource.securityEvent, nulls, 1)).toThrow(/needs 14 fields/);
  });
});

describe('CopyLeafReader', () => {
  it('reads text, NULL, integers and hex from COPY rows, un-escaping what COPY escapes', async () => {
    const values: unknown[][] = [];
    const reader = new CopyLeafReader();
    await copyRows(
      admin,
      `copy (select pg_catalog.concat('a', chr(92), 'b', chr(9), chr(10), chr(13), chr(8), chr(12), chr(11), chr(1), '"é😀'),
                    null::text, -9007199254740991::bigint, 42::smallint, pg_catalog.encode('\\x00ff10'::bytea, 'hex'), '')
              to stdout`,
      (row) => {
        reader.reset(row);
        values.push([
          reader.text(),
          reader.text(),
          reader.integer(),
          reader.integer(),
          reader.hexBytes(),
          reader.text(),
        ]);
      },
    );
    expect(values).toEqual([
      ['a\\b\t\n\r\b\f\v\u0001"é😀', null, -9007199254740991, 42, Uint8Array.from([0, 255, 16]), ''],
    ]);
  });
});

describe('sealing and verifying with leaves built in Node', () => {
  it('stores the leaf hashes leafTextSql defines, the rows’ own times and txids, and verifies ok', async () => {
    // An odd session: the sealer must not depend on it.
    await admin.query(`set TimeZone = 'America/St_Johns'; set DateStyle = 'German'; set bytea_output = 'escape'`);
    try {
      await sealAll(admin, masterKey);
    } finally {
      await admin.query('reset all');
    }
    for (const source of SOURCES) {
      const expected = await sqlLeavesUnderCatalogPath(source);
      const { rows } = await admin.query<{ id: string; hash: string; same: boolean }>(
        `select l.source_id::text as id, pg_catalog.encode(l.leaf_hash, 'hex') as hash,
                l.recorded_at = x.${source === LedgerSource.rowChange ? 'recorded_at' : 'occurred_at'} and l.txid = x.txid as same
           from ledger.entries l join ${sourceTables[source]} x on x.id = l.source_id
          where l.source = $1`,
        [source],
      );
      expect(rows.length).toBe(expected.size);
      for (const r of rows) {
        expect(r.hash, `${sourceTables[source]} ${r.id}`).toBe(expected.get(r.id)!.hash);
        expect(r.same).toBe(true);
      }
    }
    const report = await verifyLedger(admin, { masterKey });
    expect(report).toMatchObject({ status: 'ok', findings: [] });
    expect(report.rows).toBe(report.treeSize);
  });
});

describe('sealing order', () => {
  it('seals the row changes and events of one transaction in (txid, source, id) order, whatever the batch size', async () => {
    await sealAll(admin, masterKey);
    const before = Number((await admin.query('select count(*) from ledger.entries')).rows[0].count);
    for (let t = 0; t < 3; t++) {
      await admin.query('begin');
      await admin.query(`select logs.log_event('test.order')`);
      await admin.query(
        `insert into public.tricky (id, body) select g, 'order' from generate_series($1::int, $1::int + 2) g`,
        [100 + 10 * t],
      );
      await admin.query(`select logs.log_event('test.order')`);
      await admin.query('commit');
      await admin.query(`select logs.log_event('test.order.between')`);
    }
    for (const batchSize of [1, 2, 3, 5]) {
      await sealLedger(admin, { masterKey, batchSize, maxBatches: 2 });
    }
    const total = await sealAll(admin, masterKey);
    expect(total).toBe(before + 3 * 6);
    const order = (
      await admin.query<{ txid: string; source: number; id: string }>(
        `select txid::text, source, source_id::text as id from ledger.entries order by position`,
      )
    ).rows.map((r) => [BigInt(r.txid), r.source, BigInt(r.id)] as const);
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1]!, order[i]!];
      expect(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2]))), `position ${i}`).toBe(
        true,
      );
    }
    expect((await verifyLedger(admin, { masterKey })).status).toBe('ok');
  });
});

describe('a leaf column whose type a superuser changed', () => {
  it('denies text in jsonb columns passing for the same leaf with other values', async () => {
    const c = new pg.Client(await installedDatabase());
    await c.connect();
    try {
      await c.query(`create table public.t (id int primary key, v int); select audit.enable('public.t')`);
      await initLedger(c, { masterKey });
      await c.query(`insert into public.t values (1, 1); update public.t set v = 2`);
      await sealAll(c, masterKey);
      // old_data and new_data become text, and the boundary between them moves: the two texts
      // joined by ', ' are what they were, but old_data is no longer the row that was sealed.
      await c.query(`begin; set local session_replication_role = replica;
        alter table audit.row_changes drop constraint row_changes_old_data_check, drop constraint row_changes_new_data_check;
        alter table audit.row_changes alter column old_data type text, alter column new_data type text;
        update audit.row_changes set old_data = '{"v": 1', new_data = '"id": 1}, ' || new_data where op = 'UPDATE';
        commit`);
      const outcome = await verifyLedger(c, { masterKey }).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(['tampered', 'refused']).toContain(outcome);
    } finally {
      await c.end();
    }
  });
});

async function sqlLeavesUnderCatalogPath(source: LedgerSource): Promise<Map<string, { leaf: string; hash: string }>> {
  await admin.query('begin');
  try {
    await admin.query(`select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`);
    return await sqlLeaves(admin, source);
  } finally {
    await admin.query('rollback');
  }
}
