import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey } from '../../src/auth/crypto/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { cliEnv, runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { installedDatabase } from '../helpers/db.js';

// `pgwarden audit keys|seal|verify|prove|verify-proof` through the built binary, with a
// directory witness from the config (run `npm run build` first).
let db: ConnectionConfig;
let cwd: string;
let removeCwd: () => Promise<void>;
let admin: pg.Client;
const env = cliEnv({ PGWARDEN_AUTH_MASTER_KEY: generateMasterKey(), PGWARDEN_LEDGER_WITNESS_DIR: 'witness' });

beforeAll(async () => {
  db = await installedDatabase();
  ({ dir: cwd, remove: removeCwd } = await tempCwd());
  admin = new pg.Client(db);
  await admin.connect();
  await admin.query(`create table public.orders (id int primary key, total numeric); select audit.enable('public.orders');
    insert into public.orders select g, g * 1.5 from generate_series(1, 40) g`);
});
afterAll(async () => {
  await admin?.end();
  await removeCwd?.();
});

const cli = (args: string[]) => runCli([...args, '--database-url', urlOf(db)], { cwd, env });

describe('pgwarden audit ledger commands', () => {
  let historyKey: string;

  it('sets up the keys once and prints the history key to pin', async () => {
    const r = await cli(['audit', 'keys', 'init', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout);
    expect(view).toMatchObject({ ok: true, created: true });
    expect(view.keys.map((k: { algorithm: string }) => k.algorithm).sort()).toEqual(['ed25519', 'ml-dsa-65']);
    historyKey = view.historyKey;
    const again = JSON.parse((await cli(['audit', 'keys', 'init', '--json'])).stdout);
    expect(again).toMatchObject({ created: false, origin: view.origin, historyKey });
  });

  it('seals, pushes the checkpoint to the directory witness, and verifies OK against it', async () => {
    const sealed = await cli(['audit', 'seal', '--json']);
    expect(sealed.code).toBe(0);
    const result = JSON.parse(sealed.stdout);
    expect(result.sealed).toBeGreaterThanOrEqual(40);
    expect(result.witnesses).toEqual([expect.objectContaining({ witness: 'directory', accepted: true })]);
    const verified = await cli(['audit', 'verify', '--history-key', historyKey]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`OK: ${result.treeSize} entries verified`);
    expect(verified.stdout).toContain('trusted: size');
    expect(verified.stdout).toContain('key history: pinned');
  });

  it('proves a row, and the proof checks offline only with the pinned history key', async () => {
    const id = (await admin.query(`select min(id)::text as id from audit.row_changes`)).rows[0].id;
    const proved = await cli(['audit', 'prove', id, '--output', 'proof.json']);
    expect(proved.code).toBe(0);
    const ok = await runCli(['audit', 'verify-proof', 'proof.json', '--history-key', historyKey], { cwd, env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/OK: entry \d+ is in the log/);
    const unpinned = await runCli(['audit', 'verify-proof', 'proof.json'], { cwd, env });
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toContain('PW434');
    const bundle = JSON.parse(await readFile(join(cwd, 'proof.json'), 'utf8'));
    await writeFile(
      join(cwd, 'forged.json'),
      JSON.stringify({ ...bundle, leaf: bundle.leaf.replace('INSERT', 'DELETE') }),
    );
    const forged = await runCli(['audit', 'verify-proof', 'forged.json', '--history-key', historyKey], { cwd, env });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain('PW434');
  });

  it('names the first bad position after a superuser edit, exits 1 and records a critical event', async () => {
    const position = (
      await admin.query(
        `select l.position::int from ledger.entries l join audit.row_changes r on l.source = 1 and r.id = l.source_id
          where r.new_data->>'id' = '7'`,
      )
    ).rows[0].position;
    await admin.query(`begin; set local session_replication_role = replica;
      update audit.row_changes set new_data = jsonb_set(new_data, '{total}', '0') where new_data->>'id' = '7'; commit`);
    const r = await cli(['audit', 'verify', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: false, status: 'tampered', firstBadPosition: position });
    const events = (
      await admin.query(`select severity from logs.notification_log where event_type = 'ledger.tamper_detected'`)
    ).rows;
    expect(events).toEqual([{ severity: 'critical' }]);
  });

  it('rotates the checkpoint keys; old checkpoints still verify and new ones use the new keys [A-16]', async () => {
    const r = await cli(['audit', 'keys', 'rotate', '--json']);
    expect(r.code).toBe(0);
    await admin.query(`insert into public.orders values (1000, 1)`);
    expect((await cli(['audit', 'seal'])).code).toBe(0);
    const report = JSON.parse((await cli(['audit', 'verify', '--json', '--history-key', historyKey])).stdout);
    // The edit above is still there; every checkpoint, before and after the rotation, verifies.
    expect(report.checkpoints.valid).toBe(report.checkpoints.stored);
    expect(report.findings.map((f: { kind: string }) => f.kind)).toEqual(['modified']);
  });

  it('refuses bad flags with a usage error', async () => {
    const r = await cli(['audit', 'prove', '--position', 'x']);
    expect(r.code).toBe(2);
    expect((await cli(['audit', 'keys', 'explode'])).code).toBe(2);
  });
});
