import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  configKeys,
  loadConfig,
  loadConfigOrThrow,
  maskConfig,
  maskUrl,
  type PgwardenConfig,
} from '../../src/config/index.js';
import { starterConfigYaml } from '../../src/config/starter.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh directory holding the given files. */
async function dirWith(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-config-test-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** Loads and expects a valid config. */
async function valid(options: Parameters<typeof loadConfig>[0]): Promise<PgwardenConfig> {
  const result = await loadConfig(options);
  if (!result.ok) throw new Error(`expected a valid config, got ${JSON.stringify(result.issues)}`);
  return result.config;
}

/** Loads and expects issues. */
async function invalid(options: Parameters<typeof loadConfig>[0]) {
  const result = await loadConfig(options);
  if (result.ok) throw new Error('expected issues, got a valid config');
  return result.issues;
}

describe('loadConfig precedence', () => {
  it('uses the defaults when nothing is set', async () => {
    const config = await valid({ cwd: await dirWith(), env: {} });
    expect(config).toEqual({
      database: { name: 'pgwarden', connectTimeoutMs: 10_000, statementTimeoutMs: 60_000 },
      embedded: { dir: '.pgwarden', port: 0, osUser: 'postgres' },
      install: { tier: 'advanced', rolePrefix: 'pgw_', lockTimeoutMs: 300_000 },
      log: { level: 'info' },
      audit: { walCapture: true, captureIntervalMs: 1000 },
      ledger: { hybrid: true, sealIntervalMs: 5000, batchSize: 10000, witnessStdout: false },
      check: {
        exposedSchemas: [],
        dbaRoles: [],
        host: 'auto',
        statementTimeoutMs: 10_000,
        failOn: 'high',
        ledgerMaxAgeHours: 24,
        sealerMaxLagSeconds: 300,
        concurrency: 4,
      },
      monitor: {
        enabled: true,
        host: '127.0.0.1',
        port: 8788,
        dashboard: true,
        trustProxy: 0,
        serverLog: 'auto',
        logFormat: 'auto',
        rules: [],
        disableRules: [],
        builtinRules: true,
        ruleOverrides: {},
        statsIntervalMs: 10_000,
        pollIntervalMs: 5_000,
        heartbeatIntervalMs: 5_000,
        watchdogMaxAgeSeconds: 30,
        riskThreshold: 70,
        sinks: [],
      },
      auth: expect.objectContaining({
        issuer: 'pgwarden',
        accessTokenTtlSeconds: 900,
        signingAlg: 'EdDSA',
        argon2MemoryKib: 19_456,
        argon2TimeCost: 2,
        argon2Parallelism: 1,
        passwordMinLength: 8,
        registration: 'admin',
        adminRequiresMfa: true,
      }),
    });
  });

  it('reads auth settings from PGWARDEN_AUTH_* and refuses argon2 below the OWASP minimum', async () => {
    const env = { PGWARDEN_AUTH_ADMIN_REQUIRES_MFA: 'false', PGWARDEN_AUTH_PRODUCT_WORDS: 'acme, widget' };
    const config = await valid({ cwd: await dirWith(), env });
    expect(config.auth.adminRequiresMfa).toBe(false);
    expect(config.auth.productWords).toEqual(['acme', 'widget']);
    const weak = await loadConfig({ cwd: await dirWith(), env: { PGWARDEN_AUTH_ARGON2_MEMORY_KIB: '4096' } });
    expect(weak.ok).toBe(false);
  });

  it('lets the file override the defaults, env the file, and flags the env', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install:\n  lockTimeoutMs: 1000\n' });
    const env = { PGWARDEN_INSTALL_LOCK_TIMEOUT_MS: '2000' };
    const flags = { install: { lockTimeoutMs: 3000 } };
    expect((await valid({ cwd: await dirWith(), env: {} })).install.lockTimeoutMs).toBe(300_000);
    expect((await valid({ cwd, env: {} })).install.lockTimeoutMs).toBe(1000);
    expect((await valid({ cwd, env })).install.lockTimeoutMs).toBe(2000);
    expect((await valid({ cwd, env, flags })).install.lockTimeoutMs).toBe(3000);
  });

  it('keeps the lower layers for keys a higher layer leaves unset', async () => {
    const cwd = await dirWith({
      'pgwarden.config.yaml': 'install:\n  tier: basic\n  rolePrefix: file_\n',
    });
    const config = await valid({
      cwd,
      env: { PGWARDEN_INSTALL_ROLE_PREFIX: 'env_', PGWARDEN_LOG_LEVEL: '' },
      flags: { install: { rolePrefix: undefined }, log: { level: undefined } },
    });
    expect(config.install).toMatchObject({ tier: 'basic', rolePrefix: 'env_' });
    expect(config.log.level).toBe('info');
  });

  it('maps PGWARDEN_<SECTION>_<KEY> onto every key of the schema', async () => {
    const keys = configKeys();
    expect(keys.install).toEqual(expect.arrayContaining(['tier', 'rolePrefix', 'lockTimeoutMs']));
    const config = await valid({
      cwd: await dirWith(),
      env: {
        PGWARDEN_DATABASE_NAME: 'app',
        PGWARDEN_DATABASE_CONNECT_TIMEOUT_MS: '5',
        PGWARDEN_EMBEDDED_DIR: 'var/pg',
        PGWARDEN_EMBEDDED_PORT: '5499',
        PGWARDEN_EMBEDDED_OS_USER: 'pgrunner',
        PGWARDEN_INSTALL_TIER: 'standard',
        PGWARDEN_LOG_LEVEL: 'debug',
      },
    });
    expect(config.database).toMatchObject({ name: 'app', connectTimeoutMs: 5 });
    expect(config.embedded).toMatchObject({ dir: 'var/pg', port: 5499, osUser: 'pgrunner' });
    expect(config.install.tier).toBe('standard');
    expect(config.log.level).toBe('debug');
  });

  it('feeds DATABASE_URL into database.url, below PGWARDEN_DATABASE_URL and flags', async () => {
    const cwd = await dirWith({
      'pgwarden.config.yaml': 'database:\n  url: postgresql://file@h/db\n',
    });
    const dbUrl = 'postgresql://plain@h/db';
    const pwUrl = 'postgresql://pgwarden@h/db';
    expect((await valid({ cwd, env: {} })).database.url).toBe('postgresql://file@h/db');
    expect((await valid({ cwd, env: { DATABASE_URL: dbUrl } })).database.url).toBe(dbUrl);
    expect((await valid({ cwd, env: { DATABASE_URL: dbUrl, PGWARDEN_DATABASE_URL: pwUrl } })).database.url).toBe(pwUrl);
    const flags = { database: { url: 'postgresql://flag@h/db' } };
    expect((await valid({ cwd, env: { DATABASE_URL: dbUrl, PGWARDEN_DATABASE_URL: pwUrl }, flags })).database.url).toBe(
      'postgresql://flag@h/db',
    );
  });
});

describe('loadConfig files', () => {
  it('reads pgwarden.config.json', async () => {
    const cwd = await dirWith({
      'pgwarden.config.json': JSON.stringify({ install: { tier: 'basic' } }),
    });
    const result = await loadConfig({ cwd, env: {} });
    expect(result.ok && result.config.install.tier).toBe('basic');
    expect(result.file).toBe(join(cwd, 'pgwarden.config.json'));
  });

  it('reads pgwarden.config.yaml and pgwarden.config.yml', async () => {
    for (const name of ['pgwarden.config.yaml', 'pgwarden.config.yml']) {
      const cwd = await dirWith({ [name]: 'install:\n  tier: standard\n' });
      const result = await loadConfig({ cwd, env: {} });
      expect(result.ok && result.config.install.tier).toBe('standard');
      expect(result.file).toBe(join(cwd, name));
    }
  });

  it('prefers the JSON file when JSON and YAML both exist', async () => {
    const cwd = await dirWith({
      'pgwarden.config.json': '{"install":{"tier":"basic"}}',
      'pgwarden.config.yaml': 'install:\n  tier: standard\n',
    });
    expect((await valid({ cwd, env: {} })).install.tier).toBe('basic');
  });

  it('reads the file named by configPath instead of the default names', async () => {
    const other = await dirWith({ 'custom.yaml': 'install:\n  tier: basic\n' });
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install:\n  tier: standard\n' });
    const result = await loadConfig({ cwd, env: {}, configPath: join(other, 'custom.yaml') });
    expect(result.ok && result.config.install.tier).toBe('basic');
    expect(result.file).toBe(join(other, 'custom.yaml'));
  });

  it('treats an empty file as no settings', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': '# nothing yet\n' });
    expect((await valid({ cwd, env: {} })).install.tier).toBe('advanced');
  });

  it('rejects an unparsable YAML file with PW101', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install: [tier: gold\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toMatchObject({
      code: ErrorCodes.CONFIG_UNREADABLE,
    });
  });

  it('rejects an unparsable JSON file with PW101', async () => {
    const cwd = await dirWith({ 'pgwarden.config.json': '{"install": ' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toMatchObject({
      code: ErrorCodes.CONFIG_UNREADABLE,
    });
  });

  it('rejects a file that does not hold an object with PW101', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': '- install\n- tier\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toMatchObject({
      code: ErrorCodes.CONFIG_UNREADABLE,
    });
  });

  it('rejects a missing file named by configPath with PW101', async () => {
    const cwd = await dirWith();
    await expect(loadConfig({ cwd, env: {}, configPath: join(cwd, 'nope.yaml') })).rejects.toMatchObject({
      code: ErrorCodes.CONFIG_UNREADABLE,
    });
  });
});

describe('loadConfig validation', () => {
  it('names the dotted key and the file of a bad value', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install: { tier: gold }\n' });
    const issues = await invalid({ cwd, env: {} });
    expect(issues).toEqual([
      expect.objectContaining({ path: 'install.tier', source: join(cwd, 'pgwarden.config.yaml') }),
    ]);
  });

  it('names env as the source of a bad value from PGWARDEN_* variables', async () => {
    const issues = await invalid({
      cwd: await dirWith(),
      env: { PGWARDEN_EMBEDDED_PORT: 'not-a-port' },
    });
    expect(issues).toEqual([expect.objectContaining({ path: 'embedded.port', source: 'env' })]);
  });

  it('names flags as the source of a bad value from the command line', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install:\n  rolePrefix: fine_\n' });
    const issues = await invalid({
      cwd,
      env: {},
      flags: { install: { rolePrefix: 'Bad-Prefix' } },
    });
    expect(issues).toEqual([expect.objectContaining({ path: 'install.rolePrefix', source: 'flags' })]);
  });

  it('reports every bad key, not only the first', async () => {
    const cwd = await dirWith({
      'pgwarden.config.yaml': 'install:\n  tier: gold\nlog:\n  level: loud\n',
    });
    const issues = await invalid({ cwd, env: { PGWARDEN_DATABASE_CONNECT_TIMEOUT_MS: '-1' } });
    expect(issues.map((i) => i.path).sort()).toEqual(['database.connectTimeoutMs', 'install.tier', 'log.level']);
  });

  it('rejects an unknown key with its path', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': 'install:\n  teir: basic\n' });
    const issues = await invalid({ cwd, env: {} });
    expect(issues).toEqual([
      expect.objectContaining({ path: 'install.teir', source: join(cwd, 'pgwarden.config.yaml') }),
    ]);
  });

  it('rejects an unknown top-level section with its name', async () => {
    const cwd = await dirWith({
      'pgwarden.config.json': '{"databse": {"url": "postgresql://h/db"}}',
    });
    const issues = await invalid({ cwd, env: {} });
    expect(issues).toEqual([expect.objectContaining({ path: 'databse' })]);
  });

  it('throws PW100 from loadConfigOrThrow, listing each key path in the detail', async () => {
    const cwd = await dirWith({
      'pgwarden.config.yaml': 'install:\n  tier: gold\nlog:\n  level: loud\n',
    });
    const err = await loadConfigOrThrow({ cwd, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgwardenError);
    expect((err as PgwardenError).code).toBe(ErrorCodes.CONFIG_INVALID);
    expect((err as PgwardenError).detail).toContain('install.tier');
    expect((err as PgwardenError).detail).toContain('log.level');
  });

  it('returns the config from loadConfigOrThrow when it is valid', async () => {
    const config = await loadConfigOrThrow({
      cwd: await dirWith(),
      env: {},
      flags: { install: { tier: 'basic' } },
    });
    expect(config.install.tier).toBe('basic');
  });
});

describe('masking', () => {
  it('hides the password of a URL and keeps the rest readable', () => {
    const masked = maskUrl('postgresql://admin:s3cret@db.example.com:5432/app?sslmode=require');
    expect(masked).not.toContain('s3cret');
    expect(masked).toContain('admin:***@db.example.com:5432/app');
    expect(masked).toContain('sslmode=require');
  });

  it('hides secret-named query parameters of a URL', () => {
    const masked = maskUrl('postgresql://db.example.com/app?password=s3cret&sslkey=k3y');
    expect(masked).not.toContain('s3cret');
    expect(masked).not.toContain('k3y');
  });

  it('hides a connection string it cannot parse entirely', () => {
    expect(maskUrl('host=h password=s3cret')).toBe('***');
  });

  it('masks the URL and secret-named keys of a config, leaving other values alone', async () => {
    const config = await valid({
      cwd: await dirWith(),
      env: { DATABASE_URL: 'postgresql://u:s3cret@h/db' },
    });
    const withSecrets = {
      ...config,
      auth: {
        jwtSecret: 'tok-1',
        apiKey: 'tok-2',
        adminPassword: 'tok-3',
        refreshToken: 'tok-4',
        issuer: 'me',
      },
    };
    const masked = maskConfig(withSecrets as unknown as PgwardenConfig);
    const text = JSON.stringify(masked);
    for (const secret of ['s3cret', 'tok-1', 'tok-2', 'tok-3', 'tok-4']) expect(text).not.toContain(secret);
    expect((masked as unknown as typeof withSecrets).auth.issuer).toBe('me');
    expect(masked.install).toEqual(config.install);
    expect(config.database.url).toBe('postgresql://u:s3cret@h/db'); // the original is untouched
  });
});

describe('starter config', () => {
  it('validates and states exactly the defaults', async () => {
    const cwd = await dirWith({ 'pgwarden.config.yaml': starterConfigYaml });
    const result = await loadConfig({ cwd, env: {} });
    expect(result.ok).toBe(true);
    expect(result.ok && result.config).toEqual(await valid({ cwd: await dirWith(), env: {} }));
  });
});
