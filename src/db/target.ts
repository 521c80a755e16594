import type { PgwardenConfig } from '../config/index.js';
import { maskUrl } from '../config/index.js';
import type { ConnectionConfig } from './client.js';

/** Where pgwarden connects: a URL, libpq `PG*` variables, or the embedded cluster. */
export type DatabaseTarget =
  | { kind: 'url'; connection: ConnectionConfig; description: string }
  | { kind: 'env'; connection: ConnectionConfig; description: string }
  | { kind: 'embedded' };

const libpqVars = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'] as const;

const sslFromMode = (mode: string | undefined): ConnectionConfig['ssl'] => {
  switch (mode) {
    case undefined:
    case '':
    case 'disable':
    case 'allow':
    case 'prefer':
      return undefined;
    case 'require':
    case 'no-verify':
      return { rejectUnauthorized: false };
    default:
      return { rejectUnauthorized: true };
  }
};

/**
 * node-postgres reads `sslmode` in a URL its own way by default (require and verify-ca behave as
 * verify-full, with a multi-line warning on stderr). Users write libpq URIs, so pgwarden asks for
 * libpq's meaning: require encrypts without verifying, verify-ca checks the CA from sslrootcert,
 * verify-full also checks the host name.
 */
function withLibpqSslSemantics(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('sslmode') || parsed.searchParams.has('uselibpqcompat')) return url;
    parsed.searchParams.set('uselibpqcompat', 'true');
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Picks the database the way libpq tools do: `--database-url` / `database.url` (which
 * `DATABASE_URL` feeds), then the `PG*` environment variables, else the embedded cluster.
 *
 * @example
 * const target = resolveTarget(config, process.env);
 * if (target.kind === 'embedded') { … start the local cluster … }
 */
export function resolveTarget(
  config: PgwardenConfig,
  env: Readonly<Record<string, string | undefined>>,
): DatabaseTarget {
  const timeouts = {
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    statement_timeout: config.database.statementTimeoutMs || undefined,
  };
  const url = config.database.url;
  if (url) {
    return {
      kind: 'url',
      connection: { connectionString: withLibpqSslSemantics(url), ...timeouts },
      description: maskUrl(url),
    };
  }
  if (libpqVars.some((name) => env[name])) {
    const host = env.PGHOSTADDR || env.PGHOST || 'localhost';
    const port = env.PGPORT ? Number(env.PGPORT) : 5432;
    const user = env.PGUSER;
    const database = env.PGDATABASE || user;
    return {
      kind: 'env',
      connection: {
        host,
        port,
        user,
        password: env.PGPASSWORD,
        database,
        ssl: sslFromMode(env.PGSSLMODE),
        ...timeouts,
      },
      description: `postgresql://${user ?? ''}@${host}:${port}/${database ?? ''} (from PG* variables)`,
    };
  }
  return { kind: 'embedded' };
}
