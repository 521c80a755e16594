import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { DirectoryWitness, openKeyHistory, parseVerifierKey } from '../../src/audit/checkpoint/index.js';
import { historyKey, initLedger, sealLedger, startSealerService, verifyLedger } from '../../src/audit/ledger/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// The sealer under concurrency and failure: writers committing, rolling back and retrying while
// a sealer runs in a loop; a sealer killed mid-batch; witnesses kept in step.
const masterKey = parseMasterKey(generateMasterKey());
let db: ConnectionConfig;
let admin: pg.Client;
let origin: string;

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  await admin.query(`create table public.acct (id int primary key, balance int not null check (balance >= 0));
    insert into public.acct select g, 100 from generate_series(1, 20) g;
    select audit.enable('public.acct')`);
  ({ origin } = await initLedger(admin, { masterKey }));
});
afterAll(async () => admin?.end());

describe('sealing while writers run', () => {
  it('seals commits, never rollbacks, each row once and in order, with writers retrying conflicts', async () => {
    let stop = false;
    const writer = async (w: number) => {
      const c = new pg.Client(db);
      await c.connect();
      let committed = 0;
      try {
        for (let i = 0; i < 60; i++) {
          for (let attempt = 0; attempt < 5; attempt++) {
            try {
              await c.query('begin isolation level serializable');
              await c.query('update public.acct set balance = balance - 1 where id = $1', [((w * 7 + i) % 20) + 1]);
              await c.query('update public.acct set balance = balance + 1 where id = $1', [((w * 3 + i) % 20) + 1]);
              if (i % 5 === 4) {
                await c.query('rollback');
              } else {
                await c.query('commit');
                committed += 1;
              }
              break;
            } catch (err) {
              await c.query('rollback');
              if (!['40001', '40P01'].includes((err as { code?: string }).code ?? '')) throw err;
            }
          }
        }
      } finally {
        await c.end();
      }
      return committed;
    };
    // Two sealers race each other as well as the writers; the ledger lock serialises them.
    const sealerLoop = async () => {
      const c = new pg.Client(db);
      await c.connect();
      let sealedWhileWriting = 0;
      try {
        while (!stop)
          sealedWhileWriting += (await sealLedger(c, { masterKey, batchSize: 37, lockTimeoutMs: 30_000 })).sealed;
      } finally {
        await c.end();
      }
      return sealedWhileWriting;
    };
    const sealers = Promise.all([sealerLoop(), sealerLoop()]);
    let committed: number[];
    try {
      committed = await Promise.all([0, 1, 2, 3].map(writer));
    } finally {
      stop = true;
    }
    const sealedWhileWriting = await sealers;
    expect(sealedWhileWriting[0]! + sealedWhileWriting[1]!).toBeGreaterThan(0);
    await sealAll(admin, masterKey);

    const counts = (
      await admin.query(
        `select (select count(*) from audit.row_changes where table_name = 'acct' and op = 'UPDATE')::int as audited,
                (select count(*) from ledger.entries l join audit.row_changes r on l.source = 1 and r.id = l.source_id
                  where r.table_name = 'acct' and r.op = 'UPDATE')::int as sealed,
                (select count(*) from audit.row_changes r where not exists
                  (select 1 from ledger.entries l where l.source = 1 and l.source_id = r.id))::int as unsealed,
                (select count(*) - count(distinct (source, source_id)) from ledger.entries)::int as duplicates`,
      )
    ).rows[0];
    const total = committed.reduce((a, b) => a + b, 0);
    expect(counts).toEqual({ audited: total * 2, sealed: total * 2, unsealed: 0, duplicates: 0 });
    expect(await verifyLedger(admin, { masterKey })).toMatchObject({ status: 'ok', findings: [] });
  });

  it('recovers from a sealer killed mid-batch: nothing half-sealed, nothing lost', async () => {
    await sealLedger(admin, { masterKey }); // the ledger.verified event of the verification above
    await admin.query(`update public.acct set balance = balance + 1`);
    const before = (await admin.query(`select tree_size from ledger.state`)).rows[0].tree_size;
    // Hold the checkpoint table so the sealer stops after writing its entries, then kill it.
    const blocker = new pg.Client(db);
    await blocker.connect();
    await blocker.query('begin');
    await blocker.query('lock table ledger.checkpoints in access exclusive mode');
    const victim = new pg.Client(db);
    await victim.connect();
    victim.on('error', () => undefined);
    const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
    const sealing = sealLedger(victim, { masterKey }).then(
      () => 'finished',
      () => 'killed',
    );
    for (let i = 0; i < 100; i++) {
      const waiting = (await admin.query(`select wait_event_type from pg_stat_activity where pid = $1`, [pid])).rows[0]
        ?.wait_event_type;
      if (waiting === 'Lock') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await admin.query('select pg_terminate_backend($1)', [pid]);
    expect(await sealing).toBe('killed');
    await blocker.query('rollback');
    await blocker.end();
    expect((await admin.query(`select tree_size from ledger.state`)).rows[0].tree_size).toBe(before);
    expect((await admin.query(`select count(*)::text as n from ledger.entries`)).rows[0].n).toBe(before);
    const after = await sealLedger(admin, { masterKey });
    expect(after.sealed).toBe(20);
    expect(await verifyLedger(admin, { masterKey })).toMatchObject({ status: 'ok' });
  });
});

describe('witnesses', () => {
  it('receive each new checkpoint with a consistency proof, and their copy catches a rollback of the ledger [A-09, A-11]', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-witness-'));
    try {
      const history = openKeyHistory(
        (await admin.query(`select note from ledger.key_history order by version desc limit 1`)).rows[0].note,
        [parseVerifierKey(historyKey(masterKey, origin).vkey)],
        origin,
      );
      const witness = new DirectoryWitness({
        dir,
        name: 'directory',
        logs: [{ origin, logKeys: history, require: ['ed25519', 'ml-dsa-65'] }],
      });
      const first = await sealLedger(admin, { masterKey, witnesses: [witness] });
      expect(first.witnesses).toEqual([expect.objectContaining({ accepted: true, size: first.treeSize })]);
      await admin.query(`update public.acct set balance = balance + 1 where id <= 3`);
      const second = await sealLedger(admin, { masterKey, witnesses: [witness] });
      expect(second.witnesses).toEqual([expect.objectContaining({ accepted: true, size: second.treeSize })]);
      const held = await witness.latest(origin);
      expect(held).toContain(`\n${second.treeSize}\n`);
      const receipts = (await admin.query(`select tree_size::int, accepted from ledger.witness_receipts order by id`))
        .rows;
      expect(receipts.at(-1)).toEqual({ tree_size: second.treeSize, accepted: true });
      // recordEvent off: the next checkpoint must be exactly one row larger for the forged receipt below.
      expect(await verifyLedger(admin, { masterKey, trustedCheckpoint: held!, recordEvent: false })).toMatchObject({
        status: 'ok',
      });
      // A receipt forged in the database does not stop the next checkpoint reaching the witness.
      await admin.query(`update public.acct set balance = balance + 1 where id = 4`);
      await admin.query(
        `insert into ledger.witness_receipts (tree_size, witness, accepted) values ($1, 'directory', true)`,
        [second.treeSize + 1],
      );
      const third = await sealLedger(admin, { masterKey, witnesses: [witness] });
      expect(third.witnesses).toEqual([expect.objectContaining({ accepted: true, size: third.treeSize })]);
      expect(await witness.latest(origin)).toContain(`\n${third.treeSize}\n`);
      void readFile;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the sealer service', () => {
  it('seals on its timer off the write path, survives a killed connection, and stops cleanly [F-02]', async () => {
    const logged: { kind?: string }[] = [];
    const log = { info: (o: object) => logged.push(o), warn: (o: object) => logged.push(o) };
    const service = startSealerService({ connection: db, masterKey, intervalMs: 50, log });
    try {
      await admin.query(`update public.acct set balance = balance + 1 where id = 1`);
      const sealedAll = async () =>
        (
          await admin.query(`select count(*)::int as n from audit.row_changes r where not exists
           (select 1 from ledger.entries l where l.source = 1 and l.source_id = r.id)`)
        ).rows[0].n === 0;
      for (let i = 0; i < 100 && !(await sealedAll()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await sealedAll()).toBe(true);
      // Kill its connection: the next tick reconnects and keeps sealing.
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgwarden-sealer'`,
      );
      await admin.query(`update public.acct set balance = balance + 1 where id = 2`);
      for (let i = 0; i < 100 && !(await sealedAll()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await sealedAll()).toBe(true);
      expect(service.last).not.toBeNull();
    } finally {
      await service.close();
    }
    expect(logged.some((l) => l.kind === 'ledger-sealed')).toBe(true);
    expect((await verifyLedger(admin, { masterKey })).status).toBe('ok');
  });
});
