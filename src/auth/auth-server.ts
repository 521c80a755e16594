import { access } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import type { PgwardenConfig } from '../config/index.js';
import type { ConnectionConfig } from '../db/index.js';
import { createHttpService, type HttpEvent, MetricsRegistry } from '../http/index.js';
import { AuthService } from './auth-service.js';
import { loadOrCreateMasterKeyFile, type MasterKey, parseMasterKey } from './crypto/index.js';
import { authRoutes, authStatusFor } from './http-routes.js';
import { loadDefaultBlocklist, PasswordHasher } from './password/index.js';

/** A running auth HTTP service. */
export interface AuthServer {
  url: string;
  port: number;
  service: AuthService;
  metrics: MetricsRegistry;
  /** Stops accepting, finishes in-flight requests, closes the pool. */
  close(): Promise<void>;
}

export interface StartAuthServerOptions {
  config: PgwardenConfig;
  /** A login that is a member of `<prefix>auth_service` (the embedded superuser works). */
  connection: ConnectionConfig;
  /** Resolves a relative `auth.masterKeyFile`. */
  cwd: string;
  onEvent?: (event: HttpEvent | { kind: 'auth-prune'; removed: Record<string, number> }) => void;
  /** Override the listen port (tests use 0). */
  port?: number;
  /** Hours between housekeeping runs of auth.prune() (default 1; 0 disables). */
  pruneEveryHours?: number;
}

/** `/ready` is unauthenticated and unlimited: ask the database at most once a second. */
function cachedFor(ms: number, check: () => Promise<boolean>): () => Promise<boolean> {
  let last: { at: number; value: Promise<boolean> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= ms) last = { at: now, value: check().catch(() => false) };
    return last.value;
  };
}

/** The master key from `auth.masterKey`, else from `auth.masterKeyFile` (created when missing). */
export async function loadMasterKey(config: PgwardenConfig, cwd: string): Promise<MasterKey> {
  if (config.auth.masterKey) return parseMasterKey(config.auth.masterKey);
  return loadOrCreateMasterKeyFile(resolve(cwd, config.auth.masterKeyFile));
}

/**
 * The master key when it is already available (set in the config, or its file exists);
 * undefined otherwise. Never creates a key file, unlike `loadMasterKey`.
 *
 * @example
 * const masterKey = await configuredMasterKey(config, process.cwd());
 */
export async function configuredMasterKey(config: PgwardenConfig, cwd: string): Promise<MasterKey | undefined> {
  if (!config.auth.masterKey) {
    const exists = await access(resolve(cwd, config.auth.masterKeyFile)).then(
      () => true,
      () => false,
    );
    if (!exists) return undefined;
  }
  return loadMasterKey(config, cwd);
}

/** An AuthService wired from the config: master key, blocklist, argon2 hasher with its limit. */
export async function createAuthService(
  config: PgwardenConfig,
  pool: pg.Pool,
  cwd: string,
  extra: { now?: () => number } = {},
): Promise<AuthService> {
  const a = config.auth;
  const [masterKey, blocklist] = await Promise.all([loadMasterKey(config, cwd), loadDefaultBlocklist()]);
  const hasher = new PasswordHasher({
    params: { memoryCost: a.argon2MemoryKib, timeCost: a.argon2TimeCost, parallelism: a.argon2Parallelism },
    concurrency: a.hashConcurrency === 0 ? availableParallelism() : a.hashConcurrency,
    maxQueue: a.hashQueueLimit,
  });
  return new AuthService({
    pool,
    masterKey,
    hasher,
    blocklist,
    issuer: a.issuer,
    audience: a.audience,
    accessTokenTtlSeconds: a.accessTokenTtlSeconds,
    signingAlg: a.signingAlg,
    passwordMinLength: a.passwordMinLength,
    passwordMaxLength: a.passwordMaxLength,
    productWords: a.productWords,
    totpIssuer: a.totpIssuer,
    adminRole: a.adminRole,
    adminRequiresMfa: a.adminRequiresMfa,
    ...(extra.now ? { now: extra.now } : {}),
  });
}

/**
 * Starts the auth HTTP API (`pgwarden serve auth`, also run by `pgwarden up`): the routes of
 * `authRoutes`, `/live`, `/ready` (database reachable and the auth module installed), `/metrics`,
 * per-client rate limits and hourly housekeeping.
 *
 * @example
 * const server = await startAuthServer({ config, connection, cwd: process.cwd() });
 * console.log(server.url); // http://127.0.0.1:8787
 * await server.close();
 */
export async function startAuthServer(options: StartAuthServerOptions): Promise<AuthServer> {
  const { config } = options;
  const pool = new pg.Pool({ ...options.connection, application_name: 'pgwarden-auth', max: 10 });
  // An idle client whose server went away emits 'error' on the pool; the next query reports it.
  pool.on('error', () => undefined);
  try {
    const service = await createAuthService(config, pool, options.cwd);
    await service.jwks(); // creates the first signing key, and proves the master key opens it
    const metrics = new MetricsRegistry();
    const logins = metrics.counter('pgwarden_auth_logins_total', 'Login attempts by outcome.', ['outcome']);
    const refreshes = metrics.counter('pgwarden_auth_refreshes_total', 'Refresh attempts by outcome.', ['outcome']);
    const hashing = service.hasherStats();
    metrics.gauge('pgwarden_auth_hash_active', 'argon2 operations running.', [], () => hashing().active);
    metrics.gauge('pgwarden_auth_hash_queued', 'argon2 operations waiting for a slot.', [], () => hashing().queued);
    metrics.gauge('pgwarden_db_pool_connections', 'Database pool connections.', ['state'], () => [
      { labels: { state: 'total' }, value: pool.totalCount },
      { labels: { state: 'idle' }, value: pool.idleCount },
      { labels: { state: 'waiting' }, value: pool.waitingCount },
    ]);
    const router = authRoutes(service, {
      registration: config.auth.registration,
      openTenant: config.auth.openRegistrationTenant,
      observer: {
        login: (outcome) => logins.inc({ outcome }),
        refresh: (outcome) => refreshes.inc({ outcome }),
      },
    });
    const perMinute = config.auth.rateLimitPerMinute;
    const http = createHttpService({
      router,
      host: config.auth.host,
      port: options.port ?? config.auth.port,
      bodyLimitBytes: config.auth.bodyLimitBytes,
      trustProxy: config.auth.trustProxy,
      rateLimit: { perClient: { capacity: config.auth.rateLimitBurst, refillPerSecond: perMinute / 60 } },
      metrics,
      statusFor: authStatusFor,
      ready: cachedFor(1_000, () => service.store.ready()),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    const { url, port } = await http.listen();
    const everyHours = options.pruneEveryHours ?? 1;
    const pruner =
      everyHours > 0
        ? setInterval(() => {
            service.store
              .prune(30)
              .then((removed) => options.onEvent?.({ kind: 'auth-prune', removed }))
              .catch(() => undefined);
          }, everyHours * 3_600_000)
        : undefined;
    pruner?.unref();
    return {
      url,
      port,
      service,
      metrics,
      close: async () => {
        if (pruner) clearInterval(pruner);
        await http.close();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
