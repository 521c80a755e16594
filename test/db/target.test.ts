import { describe, expect, it } from 'vitest';
import { configSchema, type PgwardenConfig } from '../../src/config/index.js';
import { withClient } from '../../src/db/client.js';
import { resolveTarget } from '../../src/db/target.js';
import { adminConnection } from '../helpers/db.js';

const config = (database: Record<string, unknown> = {}): PgwardenConfig => configSchema.parse({ database });

const adminUrl = () => {
  const a = adminConnection();
  return `postgresql://${encodeURIComponent(a.user)}:${encodeURIComponent(a.password)}@${a.host}:${a.port}/${a.database}`;
};

/** The PG* variables libpq would use to reach the test cluster. */
const adminEnv = () => {
  const a = adminConnection();
  return {
    PGHOST: a.host,
    PGPORT: String(a.port),
    PGUSER: a.user,
    PGPASSWORD: a.password,
    PGDATABASE: a.database,
  };
};

describe('resolveTarget', () => {
  it('uses database.url when set, even with PG* variables present', () => {
    const target = resolveTarget(config({ url: 'postgresql://u@urlhost/db' }), {
      PGHOST: 'envhost',
      PGUSER: 'envuser',
    });
    expect(target.kind).toBe('url');
    if (target.kind !== 'url') return;
    expect(target.connection.connectionString).toBe('postgresql://u@urlhost/db');
    expect(target.description).toContain('urlhost');
  });

  it('connects to the server the URL names', async () => {
    const target = resolveTarget(config({ url: adminUrl() }), {});
    if (target.kind === 'embedded') throw new Error('expected a URL target');
    const db = await withClient(
      target.connection,
      async (c) => (await c.query('select current_database() as db')).rows[0].db,
    );
    expect(db).toBe(adminConnection().database);
  });

  it.each(['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'])(
    'uses the PG* variables when only %s is set',
    (name) => {
      const target = resolveTarget(config(), { [name]: name === 'PGPORT' ? '5499' : 'value' });
      expect(target.kind).toBe('env');
    },
  );

  it('builds the connection from PG* variables, as libpq does', () => {
    const target = resolveTarget(config(), {
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'app',
      PGPASSWORD: 'pw',
    });
    if (target.kind !== 'env') throw new Error('expected an env target');
    expect(target.connection).toMatchObject({
      host: 'db.internal',
      port: 6543,
      user: 'app',
      password: 'pw',
      database: 'app',
    });
    expect(target.description).toContain('(from PG* variables)');
  });

  it('prefers PGHOSTADDR over PGHOST and defaults host and port', () => {
    const addr = resolveTarget(config(), { PGHOST: 'name.example', PGHOSTADDR: '10.0.0.5' });
    if (addr.kind !== 'env') throw new Error('expected an env target');
    expect(addr.connection.host).toBe('10.0.0.5');
    const defaults = resolveTarget(config(), { PGUSER: 'app' });
    if (defaults.kind !== 'env') throw new Error('expected an env target');
    expect(defaults.connection).toMatchObject({ host: 'localhost', port: 5432 });
  });

  it('connects to the server the PG* variables name', async () => {
    const target = resolveTarget(config(), adminEnv());
    if (target.kind !== 'env') throw new Error('expected an env target');
    const user = await withClient(
      target.connection,
      async (c) => (await c.query('select current_user as u')).rows[0].u,
    );
    expect(user).toBe(adminConnection().user);
  });

  it('falls back to the embedded cluster when nothing names a server', () => {
    expect(resolveTarget(config(), {})).toEqual({ kind: 'embedded' });
  });

  it('does not count PGPASSWORD or PGSSLMODE alone as naming a server', () => {
    expect(resolveTarget(config(), { PGPASSWORD: 'x', PGSSLMODE: 'require', PGHOST: '' }).kind).toBe('embedded');
  });

  it('treats an empty database.url as not given', () => {
    expect(resolveTarget(config({ url: '' }), {}).kind).toBe('embedded');
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['disable', undefined],
    ['allow', undefined],
    ['prefer', undefined],
    ['require', { rejectUnauthorized: false }],
    ['no-verify', { rejectUnauthorized: false }],
    ['verify-ca', { rejectUnauthorized: true }],
    ['verify-full', { rejectUnauthorized: true }],
  ])('maps PGSSLMODE=%s to ssl %j', (mode, ssl) => {
    const env: Record<string, string | undefined> = { PGHOST: 'h', PGSSLMODE: mode };
    const target = resolveTarget(config(), env);
    if (target.kind !== 'env') throw new Error('expected an env target');
    expect(target.connection.ssl).toEqual(ssl);
  });

  it('passes the configured timeouts to the connection', () => {
    const target = resolveTarget(
      config({ url: 'postgresql://h/db', connectTimeoutMs: 1234, statementTimeoutMs: 0 }),
      {},
    );
    if (target.kind !== 'url') throw new Error('expected a URL target');
    expect(target.connection).toMatchObject({
      connectionTimeoutMillis: 1234,
      statement_timeout: undefined,
    });
  });

  it('never puts the password in the description', () => {
    const fromUrl = resolveTarget(config({ url: 'postgresql://admin:s3cret@h:5432/app' }), {});
    const fromQuery = resolveTarget(config({ url: 'postgresql://admin@h/app?password=s3cret' }), {});
    const fromEnv = resolveTarget(config(), { PGHOST: 'h', PGUSER: 'admin', PGPASSWORD: 's3cret' });
    for (const target of [fromUrl, fromQuery, fromEnv]) {
      if (target.kind === 'embedded') throw new Error('expected a server target');
      expect(target.description).not.toContain('s3cret');
      expect(target.description).toContain('admin');
    }
  });
});

describe('sslmode in a URL', () => {
  it('follows libpq: require encrypts without verifying, verify-full verifies, no warning printed', async () => {
    const { parse } = await import('pg-connection-string');
    const target = (url: string) => {
      const t = resolveTarget(config({ url }), {});
      if (t.kind !== 'url') throw new Error('expected a url target');
      return t.connection.connectionString!;
    };
    const require = parse(target('postgresql://u@db.example.com/app?sslmode=require'));
    expect(require.ssl).toMatchObject({ rejectUnauthorized: false });
    const full = parse(target('postgresql://u@db.example.com/app?sslmode=verify-full'));
    expect(full.ssl).toEqual({});
    const disabled = parse(target('postgresql://u@db.example.com/app?sslmode=disable'));
    expect(disabled.ssl).toBe(false);
    expect(target('postgresql://u@h/app')).toBe('postgresql://u@h/app');
  });
});
