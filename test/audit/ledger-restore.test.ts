import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { initLedger, sealLedger, verifyLedger } from '../../src/audit/ledger/index.js';
import { withClient } from '../../src/db/client.js';
import { LocalCluster } from '../../src/db/embedded/index.js';
import { install } from '../../src/install/index.js';

// a ledger sealed on one PostgreSQL major verifies the same after pg_dump and restore into
// another. Source: Debian's PostgreSQL 15 (its pg_dump can only dump a server of its own major
// or older); target: the embedded PostgreSQL 17. CI installs PostgreSQL 15 (`.ci/run`).
const run = promisify(execFile);
const debianBindir = (() => {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
const dirs: string[] = [];
const clusters: LocalCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function cluster(bindir: string | undefined): Promise<{ conn: Awaited<ReturnType<LocalCluster['start']>> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-restore-'));
  dirs.push(dir);
  const c = new LocalCluster({ dataDir: join(dir, 'data'), bindir, ephemeral: true });
  clusters.push(c);
  await c.init();
  return { conn: await c.start() };
}

const url = (c: { user: string; password: string; host: string; port: number }, database: string) =>
  `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${database}`;

describe('the ledger across a dump and restore into another major', () => {
  it.skipIf(!debianBindir)(
    'verifies a 10,000-entry log the same on PostgreSQL 15 and, restored, on 17 [A-19]',
    async () => {
      const masterKey = parseMasterKey(generateMasterKey());
      const source = (await cluster(debianBindir)).conn;
      await withClient(source, (c) => c.query('create database ledger_src'));
      const src = { ...source, database: 'ledger_src' };
      const before = await withClient(src, async (c) => {
        await install(c, { tier: 'advanced', rolePrefix: 'pgw_' });
        await c.query(`create table public.m (id int primary key, v numeric, f double precision, t timestamptz, j jsonb);
          select audit.enable('public.m');
          insert into public.m select g, g / 3.0, g / 7.0, '2026-01-01'::timestamptz + g * interval '1 second',
                                      jsonb_build_object('n', g * 1.10, 's', 'é' || g, 'big', 12345678901234567890)
            from generate_series(1, 10000) g`);
        await initLedger(c, { masterKey });
        await sealLedger(c, { masterKey });
        return verifyLedger(c, { masterKey, recordEvent: false });
      });
      expect(before).toMatchObject({ status: 'ok', findings: [] });
      expect(before.treeSize).toBeGreaterThan(10_000);

      const dir = dirs[0]!;
      const dump = join(dir, 'dump.sql');
      const env = { ...process.env, PGCONNECT_TIMEOUT: '10' };
      const { stdout } = await run(
        join(debianBindir, 'pg_dump'),
        ['--no-owner', '--no-privileges', url(source, 'ledger_src')],
        {
          env,
          maxBuffer: 256 * 1024 * 1024,
        },
      );
      await writeFile(dump, stdout);

      const target = (await cluster(undefined)).conn;
      // The cluster-wide roles the dump's policies name: an install in a scratch database makes them.
      await withClient(target, (c) => c.query('create database scratch'));
      await withClient({ ...target, database: 'scratch' }, (c) => install(c, { tier: 'advanced', rolePrefix: 'pgw_' }));
      await withClient(target, (c) => c.query('create database ledger_dst'));
      await run(join(debianBindir, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-f', dump, url(target, 'ledger_dst')], {
        env,
        maxBuffer: 64 * 1024 * 1024,
      });
      const after = await withClient({ ...target, database: 'ledger_dst' }, async (c) => {
        expect(
          Number((await c.query(`select current_setting('server_version_num') as v`)).rows[0].v),
        ).toBeGreaterThanOrEqual(170000);
        await c.query(`set timezone = 'Asia/Kathmandu'; set datestyle = 'German'; set extra_float_digits = 0`);
        const report = await verifyLedger(c, { masterKey, recordEvent: false });
        // Sealing goes on in the new cluster, or stops (PW436) when its transaction ids are behind
        // the cursor; it never skips the new row.
        await c.query(`insert into public.m values (10001, 1, 1, now(), '{}')`);
        const sealed = await sealLedger(c, { masterKey }).catch((e: { code?: string }) => e);
        if ('code' in sealed) expect(sealed.code).toBe('PW436');
        else
          expect(await verifyLedger(c, { masterKey, recordEvent: false })).toMatchObject({
            status: 'ok',
            treeSize: report.treeSize + 1,
          });
        return report;
      });
      expect(after).toMatchObject({
        status: 'ok',
        treeSize: before.treeSize,
        verifiedSize: before.verifiedSize,
        findings: [],
      });
    },
    120_000,
  );
});
