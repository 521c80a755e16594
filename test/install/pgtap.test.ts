import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/db/client.js';
import { adminConnection, installedDatabase } from '../helpers/db.js';

const dir = new URL('../sql/', import.meta.url);
const files = (await readdir(dir)).filter((f) => f.endsWith('.pgtap.sql')).sort();
// A `-- cases: R-01 R-21` line names the catalog cases a file covers, for the test title.
const casesOf = new Map(
  await Promise.all(
    files.map(async (f) => [f, /^-- cases: (.+)$/m.exec(await readFile(new URL(f, dir), 'utf8'))?.[1]] as const),
  ),
);
const pgtapAvailable = await withClient(
  adminConnection(),
  async (c) => (await c.query(`select 1 from pg_available_extensions where name = 'pgtap'`)).rows.length > 0,
);

// pgTAP ships with Debian's PostgreSQL (CI's PostgreSQL 15 leg), not with the embedded binaries.
// PGWARDEN_EXPECT_PGTAP=1 (set by .ci/run on that leg) turns a missing pgTAP into a failure.
describe.runIf(pgtapAvailable || process.env.PGWARDEN_EXPECT_PGTAP === '1')('pgTAP suites', () => {
  for (const file of files) {
    const cases = casesOf.get(file);
    it(`passes every assertion of ${file}${cases ? ` [${cases.split(/\s+/).join('] [')}]` : ''}`, async () => {
      const sql = await readFile(new URL(file, dir), 'utf8');
      const db = await installedDatabase();
      await withClient(db, async (c) => {
        await c.query('begin');
        await c.query('create extension if not exists pgtap');
        const results = await c.query(sql);
        await c.query('rollback');
        const lines = (Array.isArray(results) ? results : [results]).flatMap((r) =>
          r.rows.map((row: Record<string, unknown>) => String(Object.values(row)[0])),
        );
        const failures = lines.filter((l) => l.startsWith('not ok') || l.startsWith('# Looks like'));
        expect(failures).toEqual([]);
        const plan = lines.find((l) => /^1\.\.\d+$/.test(l));
        expect(lines.filter((l) => l.startsWith('ok ')).length).toBe(Number(plan?.split('..')[1]));
      });
    });
  }
});
