import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { initLedger, leafHashOfText, sealLedger, verifyLedger } from '../../src/audit/ledger/index.js';
import { archivePartitions } from '../../src/audit/retention/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// Retention: old monthly partitions are archived to files that stay provable, checked against
// the ledger, then dropped; the verifier counts their rows as archived, never as deleted.
const masterKey = parseMasterKey(generateMasterKey());
let db: ConnectionConfig;
let admin: pg.Client;
let cwd: string;
let removeCwd: () => Promise<void>;

/** A partition for an old month with rows in it (as a superuser: the trigger only writes "now"). */
async function oldMonth(c: pg.Client, month: string, rows: number): Promise<void> {
  const name = `row_changes_y${month.slice(0, 4)}m${month.slice(5, 7)}`;
  await c.query(`create table audit.${name} partition of audit.row_changes
                   for values from ('${month}-01') to (('${month}-01'::date + interval '1 month')::date)`);
  await c.query(`alter table audit.${name} owner to pgw_owner`);
  await c.query(`select audit._seal('audit.${name}'::regclass)`);
  await c.query(
    `insert into audit.row_changes (recorded_at, table_oid, schema_name, table_name, op, new_data, db_role)
     select '${month}-10'::timestamptz + g * interval '1 minute', 'public.t'::regclass, 'public', 't', 'INSERT',
            jsonb_build_object('id', g), 'app' from generate_series(1, ${rows}) g`,
  );
}

beforeAll(async () => {
  db = await installedDatabase();
  ({ dir: cwd, remove: removeCwd } = await tempCwd());
  admin = new pg.Client(db);
  await admin.connect();
  await admin.query(`create table public.t (id int primary key); select audit.enable('public.t')`);
  await initLedger(admin, { masterKey });
  await oldMonth(admin, '2020-01', 30);
  await oldMonth(admin, '2020-02', 20);
  await admin.query(`insert into public.t select generate_series(1, 5)`);
});
afterAll(async () => {
  await admin?.end();
  await removeCwd?.();
});

describe('audit retention', () => {
  it('refuses to drop a partition whose rows are not all sealed, and leaves it in place', async () => {
    await expect(archivePartitions(admin, { keepMonths: 1, archiveDir: join(cwd, 'a0') })).rejects.toMatchObject({
      code: 'PW422',
    });
    expect((await admin.query(`select count(*)::int as n from audit.partitions()`)).rows[0].n).toBeGreaterThanOrEqual(
      2,
    );
    expect(await readdir(join(cwd, 'a0'))).toEqual([]);
  });

  it('archives sealed old months to provable files, drops them, and the ledger still verifies', async () => {
    await sealAll(admin, masterKey);
    const dry = await archivePartitions(admin, { keepMonths: 1, archiveDir: join(cwd, 'a1'), dryRun: true });
    expect(dry.map((p) => [p.partition, p.rows, p.dropped])).toEqual([
      ['audit.row_changes_y2020m01', 30, false],
      ['audit.row_changes_y2020m02', 20, false],
    ]);
    const done = await archivePartitions(admin, { keepMonths: 1, archiveDir: join(cwd, 'a1') });
    expect(done.map((p) => [p.partition, p.rows, p.dropped])).toEqual([
      ['audit.row_changes_y2020m01', 30, true],
      ['audit.row_changes_y2020m02', 20, true],
    ]);
    expect((await admin.query(`select to_regclass('audit.row_changes_y2020m01') as r`)).rows[0].r).toBeNull();
    const lines = (await readFile(done[0]!.archive!, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(30);
    const stored = (
      await admin.query(`select position::int, leaf_hash from ledger.entries where position = any($1::bigint[])`, [
        lines.map((l) => l.position),
      ])
    ).rows;
    for (const line of lines) {
      const entry = stored.find((s) => s.position === line.position)!;
      expect(Buffer.from(leafHashOfText(line.leaf)).equals(entry.leaf_hash)).toBe(true);
    }
    const recorded = (
      await admin.query(
        `select partition_name, row_count::int, archive_sha256 from audit.archived_partitions order by 1`,
      )
    ).rows;
    expect(recorded).toEqual([
      { partition_name: 'audit.row_changes_y2020m01', row_count: 30, archive_sha256: done[0]!.sha256 },
      { partition_name: 'audit.row_changes_y2020m02', row_count: 20, archive_sha256: done[1]!.sha256 },
    ]);
    const events = (
      await admin.query(
        `select count(*)::int as n from logs.notification_log where event_type = 'audit.partition_archived'`,
      )
    ).rows[0].n;
    expect(events).toBe(2);
    await sealLedger(admin, { masterKey });
    // The archives are the evidence: with them the gone rows count as archived; without them,
    // the database's own word is not enough and the report stays unverified.
    expect(await verifyLedger(admin, { masterKey, archiveDir: join(cwd, 'a1') })).toMatchObject({
      status: 'ok',
      archived: 50,
      findings: [],
    });
    expect(await verifyLedger(admin, { masterKey })).toMatchObject({ status: 'unverified', archivedUnchecked: 50 });
  });

  it("does not take the database's word for an archive: a forged archive record hides nothing", async () => {
    const id = (await admin.query(`select max(id) as id from audit.row_changes where table_name = 't'`)).rows[0].id;
    await admin.query(
      `begin; set local session_replication_role = replica;
      delete from audit.row_changes where id = $1;
      insert into audit.archived_partitions (partition_name, range_from, range_to, row_count, archive_name, archive_sha256)
      values ('audit.fake', '2000-01-01', '2100-01-01', 1, 'none', repeat('a', 64)); commit`.replace('$1', String(id)),
    );
    const report = await verifyLedger(admin, { masterKey, recordEvent: false, archiveDir: join(cwd, 'a1') });
    expect(report.status).toBe('tampered');
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'deleted' })]);
  });

  it('keeps rows deleted outside retention reported as deleted', async () => {
    await admin.query(`begin; set local session_replication_role = replica;
      delete from audit.row_changes where id = (select max(id) from audit.row_changes where table_name = 't' and recorded_at > now() - interval '1 day'); commit`);
    const report = await verifyLedger(admin, { masterKey, recordEvent: false, archiveDir: join(cwd, 'a1') });
    // This one and the one the forged archive record tried to hide.
    expect(report.findings.map((f) => f.kind)).toEqual(['deleted', 'deleted']);
  });

  it('is reachable from the CLI, with a dry run and usage errors', async () => {
    const bad = await runCli(['audit', 'retention', '--database-url', urlOf(db)], { cwd });
    expect(bad.code).toBe(2);
    const dry = await runCli(
      [
        'audit',
        'retention',
        '--keep-months',
        '0',
        '--archive-dir',
        'a2',
        '--dry-run',
        '--json',
        '--database-url',
        urlOf(db),
      ],
      { cwd },
    );
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ ok: true, dryRun: true });
  });
});
