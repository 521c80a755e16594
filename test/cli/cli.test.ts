import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { starterConfigYaml } from '../../src/config/starter.js';
import { pgwardenVersion } from '../../src/install/index.js';
import { adminConnection, emptyDatabase } from '../helpers/db.js';
import { cliEnv, runCli, tempCwd, urlOf } from './run-cli.js';

const cleanups: Array<() => Promise<void>> = [];
let cwd: string;

/** A fresh working directory, removed after the file's tests. */
async function freshDir(): Promise<string> {
  const { dir, remove } = await tempCwd();
  cleanups.push(remove);
  return dir;
}

/** A fresh working directory holding one config file. */
async function withConfigFile(name: string, text: string): Promise<string> {
  const dir = await freshDir();
  await writeFile(join(dir, name), text);
  return dir;
}

beforeAll(async () => {
  cwd = await freshDir();
});
afterAll(async () => {
  await Promise.all(cleanups.map((remove) => remove()));
});

describe('pgwarden usage', () => {
  it('prints the version and exits 0 with --version', async () => {
    const r = await runCli(['--version'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pgwardenVersion);
  });

  it('prints every command and exits 0 with --help', async () => {
    const r = await runCli(['--help'], { cwd });
    expect(r.code).toBe(0);
    for (const command of ['install', 'status', 'uninstall', 'up', 'down', 'demo', 'init', 'config']) {
      expect(r.stdout).toContain(command);
    }
  });

  it('exits 2 on an unknown flag', async () => {
    const r = await runCli(['--no-such-flag'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--no-such-flag');
  });

  it('exits 2 on an unknown command', async () => {
    const r = await runCli(['frobnicate'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frobnicate');
  });

  it('reports a usage error as JSON with code PW001 under --json', async () => {
    for (const args of [
      ['status', '--json', '--no-such-flag'],
      ['--json', 'frobnicate'],
    ]) {
      const r = await runCli(args, { cwd });
      expect(r.code).toBe(2);
      const out = JSON.parse(r.stdout);
      expect(out.ok).toBe(false);
      expect(out.error.code).toBe('PW001');
    }
  });

  it('exits 2 with PW001 when --tier names no tier', async () => {
    const r = await runCli(['install', '--tier', 'gold', '--json'], { cwd });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('PW001');
  });
});

describe('pgwarden init', () => {
  it('writes the starter pgwarden.config.yaml', async () => {
    const dir = await freshDir();
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'pgwarden.config.yaml'), 'utf8')).toBe(starterConfigYaml);
  });

  it('refuses to overwrite an existing file with exit 2 and PW102', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install:\n  tier: basic\n');
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW102');
    expect(await readFile(join(dir, 'pgwarden.config.yaml'), 'utf8')).toBe('install:\n  tier: basic\n');
  });

  it('overwrites an existing file with --force', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install:\n  tier: basic\n');
    const r = await runCli(['init', '--force'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'pgwarden.config.yaml'), 'utf8')).toBe(starterConfigYaml);
  });
});

describe('pgwarden config --print', () => {
  it('shows the effective config, with the file, env and flag layers applied', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install:\n  tier: basic\n  lockTimeoutMs: 1000\n');
    const r = await runCli(['config', '--print', '--json', '--role-prefix', 'flag_'], {
      cwd: dir,
      env: cliEnv({ PGWARDEN_INSTALL_LOCK_TIMEOUT_MS: '2000' }),
    });
    expect(r.code).toBe(0);
    const { config } = JSON.parse(r.stdout);
    expect(config.install).toEqual({ tier: 'basic', lockTimeoutMs: 2000, rolePrefix: 'flag_' });
    expect(config.embedded.dir).toBe('.pgwarden');
  });

  it('never prints the password of --database-url', async () => {
    const args = ['--database-url', 'postgresql://u:s3cret@h/db'];
    const text = await runCli(['config', '--print', ...args], { cwd });
    const json = await runCli(['config', '--json', ...args], { cwd });
    for (const r of [text, json]) {
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toContain('s3cret');
    }
    expect(text.stdout).toContain('postgresql://u:***@h/db');
    expect(JSON.parse(json.stdout).config.database.url).toBe('postgresql://u:***@h/db');
  });

  it('exits 2 with PW100 naming the key when the config is invalid', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install: { tier: gold }\n');
    const r = await runCli(['config', '--print'], { cwd: dir });
    expect(r.code).toBe(2);
    const line = r.stderr.split('\n').find((l) => l.includes('PW100'));
    expect(line).toBeDefined();
    expect(line).toContain('install.tier');
    expect(line).toContain(join(dir, 'pgwarden.config.yaml'));
  });

  it('refuses an invalid config before any command touches a database', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install: { tier: gold }\n');
    const r = await runCli(['status', '--database-url', 'postgresql://x@127.0.0.1:1/db'], {
      cwd: dir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW100');
    expect(r.stderr).not.toContain('PW110');
  });

  it('exits 2 with PW101 when the config file is not valid YAML', async () => {
    const dir = await withConfigFile('pgwarden.config.yaml', 'install: [tier: gold\n');
    const r = await runCli(['config', '--print'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW101');
  });

  it('exits 2 with PW101 when --config names a missing file', async () => {
    const r = await runCli(['config', '--config', join(cwd, 'missing.yaml')], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW101');
  });
});

describe('connection failures', () => {
  it('exits 3 with PW110 when the server is unreachable', async () => {
    const r = await runCli(['status', '--database-url', 'postgresql://x@127.0.0.1:1/db'], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('PW110');
  });

  it('exits 3 with PW111 on a wrong password, never echoing the password', async () => {
    const wrong = 'Wr0ng-pa55word-zq';
    const url = urlOf(adminConnection(), { password: wrong });
    const text = await runCli(['status', '--database-url', url], { cwd });
    const json = await runCli(['status', '--json', '--database-url', url], { cwd });
    expect(text.code).toBe(3);
    expect(text.stderr).toContain('PW111');
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).error.code).toBe('PW111');
    for (const r of [text, json]) expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('exits 3 with PW112 when the database does not exist', async () => {
    const url = urlOf(adminConnection(), { database: 'no_such_database_here' });
    const r = await runCli(['status', '--database-url', url], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('PW112');
  });

  it('reads DATABASE_URL when no flag is given', async () => {
    const db = await emptyDatabase();
    const env = cliEnv({ DATABASE_URL: urlOf(db) });
    const r = await runCli(['status', '--json'], { cwd, env });
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status.installed).toBe(false);
    expect(status.database).toContain(`/${db.database}`);
    expect(status.database).not.toContain(String(db.password));
  });
});
