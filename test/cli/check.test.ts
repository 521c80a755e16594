import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allChecks, type ScanReport } from '../../src/check/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { withClient } from '../../src/db/client.js';
import { installedDatabase } from '../helpers/db.js';
import { cliEnv, repoRoot, runCli, tempCwd, urlOf } from './run-cli.js';

const run = promisify(execFile);

let cwd: string;
let remove: () => Promise<void>;
let db: ConnectionConfig;
let url: string;

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
  db = await installedDatabase();
  url = urlOf(db);
  // One exposed table without row-level security: an open high finding of RLS-001.
  await withClient(db, (c) =>
    c.query(`create schema api; create table api.open_orders (id int primary key, tenant_id text, total numeric);
             grant usage on schema api to pgw_app_user; grant select on api.open_orders to pgw_app_user`),
  );
});
afterAll(() => remove());

// Only families that read this database alone: other test files create and drop cluster-wide
// roles and settings meanwhile (the privilege family reads roles, cis the settings).
const scoped = ['--only', 'rls', 'version', '--exposed-schema', 'api', '--host', 'off'];
const cli = (args: string[], timeoutMs = 60_000) =>
  runCli(['--database-url', url, ...args], { cwd, env: cliEnv(), timeoutMs });

describe('pgwarden check', () => {
  it('lists every check with --list --json', async () => {
    const r = await runCli(['check', '--list', '--json'], { cwd, env: cliEnv() });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Array<{ id: string }>).map((c) => c.id)).toEqual(allChecks.map((c) => c.id));
  });

  it('exits 1 on an open high finding, and 0 when --fail-on is above it [C-04]', async () => {
    const r = await cli(['check', ...scoped, '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as ScanReport;
    const rls = report.results.find((x) => x.id === 'RLS-001')!;
    expect(rls.findings.map((f) => [f.object, f.severity])).toEqual([['api.open_orders', 'high']]);
    expect((await cli(['check', ...scoped, '--fail-on', 'critical'])).code).toBe(0);
  });

  it('writes SARIF to a file, with the check ids as rule ids [C-04]', async () => {
    const r = await cli(['check', ...scoped, '--format', 'sarif', '-o', 'out.sarif', '--fail-on', 'none']);
    expect(r.code).toBe(0);
    const sarif = JSON.parse(await readFile(join(cwd, 'out.sarif'), 'utf8'));
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results.map((x: { ruleId: string }) => x.ruleId)).toContain('RLS-001');
  });

  it('accepts known findings through a written baseline, and reports them again once removed from it', async () => {
    expect((await cli(['check', ...scoped, '--write-baseline', 'baseline.yaml', '--fail-on', 'none'])).code).toBe(0);
    const text = await readFile(join(cwd, 'baseline.yaml'), 'utf8');
    expect(text).toContain('check: RLS-001');
    const accepted = await cli(['check', ...scoped, '--baseline', 'baseline.yaml', '--json']);
    expect(accepted.code).toBe(0);
    expect((JSON.parse(accepted.stdout) as ScanReport).summary.suppressed).toBeGreaterThan(0);
    await writeFile(join(cwd, 'empty.yaml'), 'accepted: []\n');
    expect((await cli(['check', ...scoped, '--baseline', 'empty.yaml'])).code).toBe(1);
  });

  it('refuses an unknown check id with PW502 and exit 2, before connecting', async () => {
    const r = await runCli(['--database-url', 'postgresql://nobody@127.0.0.1:1/x', 'check', '--only', 'CIS-99.9'], {
      cwd,
      env: cliEnv(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW502');
  });

  it('refuses a malformed baseline with PW500', async () => {
    await writeFile(join(cwd, 'bad.yaml'), 'waivers:\n  - { check: RLS-001 }\n');
    const r = await cli(['check', ...scoped, '--baseline', 'bad.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW500');
  });

  it('scans a fleet, one summary line per target, and fails on an unreachable one', async () => {
    const other = await installedDatabase();
    await writeFile(
      join(cwd, 'fleet.yaml'),
      [
        'targets:',
        `  - { name: app, host: ${db.host}, port: ${db.port}, database: ${db.database}, user: ${db.user}, passwordEnv: FLEET_PW }`,
        `  - { name: other, host: ${other.host}, port: ${other.port}, database: ${other.database}, user: ${other.user}, passwordEnv: FLEET_PW }`,
        `  - { name: gone, host: 127.0.0.1, port: 1, database: x, user: nobody, passwordEnv: FLEET_PW }`,
      ].join('\n'),
    );
    const r = await runCli(['check', '--targets', 'fleet.yaml', ...scoped, '--format', 'json'], {
      cwd,
      env: cliEnv({ FLEET_PW: String(db.password) }),
      timeoutMs: 90_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[\d\/3\] app: score \d+/);
    expect(r.stderr).toMatch(/\[\d\/3\] gone: failed PW110/);
    expect(r.stderr).not.toContain('\u001b[2K'); // no live line when stderr is not a terminal
    expect(r.stdout + r.stderr).not.toContain(String(db.password));
  });
});

describe('pgwarden check --targets on a terminal', () => {
  it('keeps the targets still running on one live status line', async () => {
    // script(1) gives the command a pseudo-terminal, as a user's shell would.
    const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
    const command = [process.execPath, join(repoRoot, 'bin', 'pgwarden.js'), 'check', '--targets', 'fleet.yaml']
      .concat(scoped, ['--fail-on', 'none'])
      .map(quote)
      .join(' ');
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: cliEnv({ FLEET_PW: String(db.password), TERM: 'xterm' }),
      timeout: 90_000,
    }).catch((err: { stdout: string }) => err);
    expect(stdout).toContain('\r\u001b[2K[0/3] scanning app');
    expect(stdout).toMatch(/\[\d\/3\] app: score \d+/);
    expect(stdout).toMatch(/\[\d\/3\] gone: failed PW110/);
  });
});

describe('pgwarden fix', () => {
  it('shows the exact statements with --dry-run and applies only the safe ones with --apply', async () => {
    const fixDb = await installedDatabase();
    await withClient(fixDb, (c) => c.query('grant create on schema public to public'));
    const args = ['--database-url', urlOf(fixDb), 'fix', '--only', 'CIS-4.10', '--host', 'off'];
    const dry = await runCli(args, { cwd, env: cliEnv(), timeoutMs: 60_000 });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/revoke create on schema "public" from public/i);
    const stillOpen = await withClient(fixDb, (c) =>
      c.query(`select has_schema_privilege('public', 'public', 'create') as ok`),
    );
    expect(stillOpen.rows[0].ok).toBe(true);
    const applied = await runCli([...args, '--apply'], {
      cwd,
      env: cliEnv(),
      timeoutMs: 60_000,
    });
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/applied\s+CIS-4.10/);
    const closed = await withClient(fixDb, (c) =>
      c.query(`select has_schema_privilege('public', 'public', 'create') as ok`),
    );
    expect(closed.rows[0].ok).toBe(false);
  });
});

describe('pgwarden report', () => {
  it('reports PW504 before any scan is saved, then renders the saved scans for auditors', async () => {
    const reportDb = await installedDatabase();
    const args = ['--database-url', urlOf(reportDb)];
    const none = await runCli([...args, 'report', '--format', 'markdown'], { cwd, env: cliEnv() });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('PW504');
    for (let i = 0; i < 2; i++) {
      const saved = await runCli([...args, 'check', ...scoped, '--save', '--fail-on', 'none'], {
        cwd,
        env: cliEnv(),
        timeoutMs: 60_000,
      });
      expect(saved.code).toBe(0);
      expect(saved.stderr).toMatch(/saved as scan run \d+/);
    }
    const md = await runCli([...args, 'report', '--format', 'markdown'], { cwd, env: cliEnv() });
    expect(md.code).toBe(0);
    expect(md.stdout).toContain('pgwarden compliance report');
    const html = await runCli([...args, 'report', '-o', 'report.html'], { cwd, env: cliEnv() });
    expect(html.code).toBe(0);
    expect(await readFile(join(cwd, 'report.html'), 'utf8')).toMatch(/^<!doctype html>/i);
  });
});
