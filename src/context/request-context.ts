// The per-request database context: one transaction on an authenticator connection, running as
// the role the token maps to, with the token's identity MAC'd into transaction-local settings
// that row-level-security policies read through auth.uid(), auth.tenant_id() and friends.
import type { JWTPayload } from 'jose';
import type pg from 'pg';
import type { MasterKey } from '../auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { ContextKey, type ContextIdentity, sealContext } from './context-seal.js';
import {
  checkIdentity,
  checkRoleMapping,
  type ClaimMapping,
  identityFromClaims,
  type RoleMapping,
} from './identity.js';
import { type PipelineFailure, prepareValues, runPipeline, type StatementResult } from './pipeline.js';
import type { TokenVerifier, VerifiedToken } from './verify/index.js';

/** Options of `createContextPool`. */
export interface ContextPoolOptions {
  /** A pool that logs in as the authenticator role (NOINHERIT, member of the request roles only). */
  pool: pg.Pool;
  /** The context MAC key, or the master key it is derived from. */
  key: ContextKey | MasterKey;
  /** Verifies bearer tokens passed as strings. */
  verifier?: TokenVerifier;
  /** Token → PostgreSQL role allowlist. Default `{ authenticated: 'pgw_app_user' }`. */
  roles?: RoleMapping;
  claims?: ClaimMapping;
  /** Lifetime of a context in seconds, checked against the transaction's start (5..300, default 60). */
  contextTtlSeconds?: number;
  /**
   * Settings applied transaction-locally with every context (for example `search_path` or
   * `statement_timeout`), so nothing a previous request set on the pooled session carries over.
   */
  settings?: Record<string, string>;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** Options of one request. */
export interface RunOptions {
  /**
   * A read-only request: each statement runs in its own read-only transaction with the context
   * re-applied, which saves the commit round trip (at READ COMMITTED every statement takes a new
   * snapshot anyway). Default false: one read-write transaction for the whole callback.
   */
  readOnly?: boolean;
  /** Isolation of the read-write transaction. Default the server's (`read committed`). */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
}

/** The request-scoped database handle. */
export interface ContextDb {
  /** The identity the request runs with. */
  readonly identity: ContextIdentity;
  /** One statement, parameters bound (`$1`…), in the request's context. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
  ): Promise<StatementResult<R>>;
}

/** What `withRequestContext` accepts: a bearer token, verified claims, or `null` (anonymous). */
export type ContextInput = string | VerifiedToken | JWTPayload | ContextIdentity | null;

/** How long a successful auth.context_check is trusted. */
const CHECK_INTERVAL_MS = 60_000;
const SETTING_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;
// Statements that end or open a transaction would let the rest of a request run outside its
// context; a request that runs one is failed and its connection discarded.
// PREPARE and DEALLOCATE are refused too: a named statement is session state that outlives the
// request (and PREPARE TRANSACTION shares the PREPARE tag).
const TRANSACTION_CONTROL = new Set(['BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'END', 'PREPARE', 'DEALLOCATE']);

/** A pool that runs callbacks in an unforgeable per-request context. */
export class ContextPool {
  readonly pool: pg.Pool;
  readonly #key: ContextKey;
  readonly #verifier: TokenVerifier | undefined;
  readonly #roles: RoleMapping;
  readonly #claims: ClaimMapping;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #setupWithEntry: string;
  readonly #setupPlain: string;
  #checked: { at: number; done: Promise<void> } | undefined;
  readonly #settingValues: string[];

  constructor(options: ContextPoolOptions) {
    this.pool = options.pool;
    this.#key = options.key instanceof ContextKey ? options.key : ContextKey.fromMasterKey(options.key);
    this.#verifier = options.verifier;
    this.#roles = options.roles ?? { authenticated: 'pgw_app_user' };
    checkRoleMapping(this.#roles);
    this.#claims = options.claims ?? {};
    this.#ttl = options.contextTtlSeconds ?? 60;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 5 || this.#ttl > 300) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'contextTtlSeconds must be an integer from 5 to 300');
    }
    this.#now = options.now ?? Date.now;
    const settings = Object.entries(options.settings ?? {});
    for (const [name] of settings) {
      if (
        !SETTING_NAME.test(name) ||
        name === 'role' ||
        name.startsWith('pgwarden.') ||
        name === 'session_authorization'
      ) {
        throw new PgwardenError(
          ErrorCodes.CONTEXT_CONFIG_INVALID,
          `setting ${JSON.stringify(name)} cannot be set per request`,
        );
      }
    }
    this.#settingValues = settings.map(([, value]) => String(value));
    // One statement sets everything: the MAC'd context, its check (which raises on a bad MAC, an
    // ended session or a refused role), the role, read-only mode and the configured settings.
    // Values are bound parameters only; the text is fixed per pool.
    // auth.context_enter checks the session of tokens that name one (revoked, expired, roles
    // changed); other contexts need no entry check, since every helper verifies what it reads.
    const setup = (entry: boolean) => {
      const first = entry ? 8 : 5;
      const extra = settings.map(([name], i) => `, pg_catalog.set_config('${name}', $${first + i}, true)`).join('');
      return (
        `select pg_catalog.set_config('pgwarden.context', $1, true), pg_catalog.set_config('pgwarden.context_mac', $2, true), ` +
        (entry ? 'auth.context_enter($5::uuid, $6::text, $7::bigint), ' : '') +
        `pg_catalog.set_config('role', $3, true), pg_catalog.set_config('transaction_read_only', $4, true)${extra}`
      );
    };
    this.#setupWithEntry = setup(true);
    this.#setupPlain = setup(false);
  }

  /**
   * Once per pool, and again after CHECK_INTERVAL_MS: the context key is registered and active,
   * every allowlisted role is safe (not superuser, BYPASSRLS, LOGIN or the owner, and reachable
   * from the login), and the login reaches no superuser or BYPASSRLS role. A failure is
   * not cached: the next request checks again.
   */
  async #ensureChecked(client: pg.PoolClient): Promise<void> {
    const now = this.#now();
    if (this.#checked && now - this.#checked.at < CHECK_INTERVAL_MS) return this.#checked.done;
    const done = this.#check(client);
    this.#checked = { at: now, done };
    try {
      await done;
    } catch (err) {
      this.#checked = undefined;
      throw err;
    }
  }

  async #check(client: pg.PoolClient): Promise<void> {
    const { rows } = await client.query<{ key_active: boolean; unsafe_roles: string[]; login_reaches: string[] }>(
      'select * from auth.context_check($1, $2)',
      [this.#key.kid, [...this.#allowedRoles()]],
    );
    const [r] = rows;
    if (!r?.key_active) {
      throw new PgwardenError(ErrorCodes.CONTEXT_INVALID, 'the request context key is not known to this database', {
        hint: 'register it with `pgwarden keys context` (it is derived from the master key)',
        detail: `kid ${this.#key.kid}`,
      });
    }
    if (r.login_reaches.length > 0) {
      throw new PgwardenError(
        ErrorCodes.CONTEXT_ROLE_REFUSED,
        "the pool's login can become a superuser or BYPASSRLS role; requests would not be confined",
        {
          detail: `reachable: ${r.login_reaches.join(', ')}`,
          hint: 'connect as the authenticator role, NOINHERIT, member of the request roles only',
        },
      );
    }
    if (r.unsafe_roles.length > 0) {
      throw new PgwardenError(ErrorCodes.CONTEXT_ROLE_REFUSED, 'a request role may not be used', {
        detail: `refused: ${r.unsafe_roles.join(', ')} (superuser, BYPASSRLS, LOGIN, the owner, or not granted to the login)`,
        hint: 'map tokens only to NOLOGIN roles granted to the authenticator',
      });
    }
  }

  /** The context key id (`auth.context_keys.kid`). */
  get keyId(): string {
    return this.#key.kid;
  }

  /**
   * The identity of a request: verifies a token string, maps verified claims through the role
   * allowlist. Throws PW320/PW321 (token), PW323 (claims) or PW336 (no token) before any
   * database work, so a bad token never takes a connection.
   */
  async identify(input: ContextInput): Promise<ContextIdentity> {
    if (input === null) return identityFromClaims(null, this.#roles, this.#claims);
    if (typeof input === 'string') {
      if (!this.#verifier) {
        throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'a token string needs a verifier', {
          hint: 'pass `verifier` to createContextPool, or pass verified claims',
        });
      }
      const verified = await this.#verifier.verify(input);
      return identityFromClaims(verified.claims, this.#roles, this.#claims);
    }
    if (isIdentity(input)) {
      checkIdentity(input);
      if (!this.#allowedRoles().has(input.role)) {
        throw new PgwardenError(ErrorCodes.JWT_CLAIMS_REFUSED, 'the token cannot be used here', {
          detail: 'the identity names a role this service does not allow; http 403',
        });
      }
      return input;
    }
    const claims = isVerifiedToken(input) ? input.claims : input;
    return identityFromClaims(claims as Record<string, unknown>, this.#roles, this.#claims);
  }

  #allowedRoles(): Set<string> {
    const roles = new Set([this.#roles.authenticated]);
    if (this.#roles.anonymous) roles.add(this.#roles.anonymous);
    for (const r of Object.values(this.#roles.fromClaim?.map ?? {})) roles.add(r);
    return roles;
  }

  /** Runs `fn` in the request's context; see `withRequestContext`. */
  async run<T>(input: ContextInput, fn: (db: ContextDb) => Promise<T>, options: RunOptions = {}): Promise<T> {
    const identity = await this.identify(input);
    const client = await this.pool.connect();
    const session = new ContextSession(this, client, identity, options);
    let discard: Error | undefined;
    try {
      await this.#ensureChecked(client);
      const result = await fn(session);
      await session.finish();
      return result;
    } catch (err) {
      discard = await session.abandon();
      throw err;
    } finally {
      session.close();
      client.release(discard ?? session.brokenBy);
    }
  }

  /** The set-up statement's text and values for one transaction on `client`. */
  setup(client: pg.PoolClient, identity: ContextIdentity, readOnly: boolean): { text: string; values: unknown[] } {
    const pid = (client as pg.PoolClient & { processID?: number }).processID;
    if (typeof pid !== 'number') {
      throw new PgwardenError(ErrorCodes.INTERNAL, 'the connection did not report its backend pid');
    }
    const exp = Math.floor(this.#now() / 1000) + this.#ttl;
    const sealed = sealContext(this.#key, identity, pid, exp);
    const base = [sealed.context, sealed.mac, identity.role, readOnly ? 'on' : 'off'];
    if (identity.sid === null) return { text: this.#setupPlain, values: [...base, ...this.#settingValues] };
    const av = Object.prototype.hasOwnProperty.call(identity.claims, 'av') ? identity.claims.av : undefined;
    return {
      text: this.#setupWithEntry,
      values: [...base, identity.sid, identity.sub, typeof av === 'number' ? String(av) : null, ...this.#settingValues],
    };
  }
}

function isVerifiedToken(input: object): input is VerifiedToken {
  return 'claims' in input && 'header' in input && 'expiresAt' in input;
}
function isIdentity(input: object): input is ContextIdentity {
  return 'role' in input && 'claims' in input && 'roles' in input && 'sid' in input && !('header' in input);
}

const CONTEXT_ERRORS: Record<string, (typeof ErrorCodes)[keyof typeof ErrorCodes]> = {
  PW330: ErrorCodes.CONTEXT_INVALID,
  PW331: ErrorCodes.CONTEXT_SESSION_ENDED,
  PW332: ErrorCodes.CONTEXT_STALE_TOKEN,
  PW333: ErrorCodes.CONTEXT_ROLE_REFUSED,
};

/** Maps a failure of the set-up statement to its stable error; other errors pass through. */
function setupError(failure: PipelineFailure, setupStep: number): Error {
  const { error } = failure;
  const sqlState = (error as { code?: string }).code;
  if (failure.step === setupStep && sqlState && CONTEXT_ERRORS[sqlState]) {
    return new PgwardenError(CONTEXT_ERRORS[sqlState], error.message, {
      hint: (error as { hint?: string }).hint,
      sqlState,
    });
  }
  if (failure.step === setupStep && sqlState === '42501') {
    // set_config('role') refused: the authenticator is not a member of the mapped role.
    return new PgwardenError(ErrorCodes.CONTEXT_ROLE_REFUSED, 'the request role may not be used', {
      hint: 'grant the request role to the authenticator role (and nothing else)',
      sqlState,
    });
  }
  return error;
}

/** The handle of one request (`ContextDb`). */
class ContextSession implements ContextDb {
  #state: 'new' | 'open' | 'failed' | 'closed' = 'new';
  #inFlight = false;
  /** Set when the connection must not go back to the pool. */
  brokenBy: Error | undefined;

  constructor(
    private readonly pool: ContextPool,
    private readonly client: pg.PoolClient,
    readonly identity: ContextIdentity,
    private readonly options: RunOptions,
  ) {}

  async query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values: readonly unknown[] = [],
  ): Promise<StatementResult<R>> {
    if (this.#state === 'closed') {
      throw new PgwardenError(ErrorCodes.CONTEXT_CLOSED, 'the request has finished; its database handle is closed');
    }
    if (this.#state === 'failed') {
      throw new PgwardenError(ErrorCodes.CONTEXT_CLOSED, 'an earlier statement of this request failed', {
        hint: 'the request transaction was rolled back; start a new request',
      });
    }
    if (this.#inFlight) {
      throw new PgwardenError(ErrorCodes.USAGE, 'one statement at a time: await each query of a request');
    }
    if (typeof text !== 'string' || text.length === 0) {
      throw new PgwardenError(ErrorCodes.USAGE, 'a query needs SQL text');
    }
    const prepared = prepareValues(values);
    this.#inFlight = true;
    try {
      const result = this.options.readOnly
        ? await this.#readOnly(text, prepared)
        : await this.#readWrite(text, prepared);
      this.#guard(result.command);
      return result as StatementResult<R>;
    } finally {
      this.#inFlight = false;
    }
  }

  // Read-only: [set-up, statement] + Sync, one round trip, one implicit read-only transaction.
  async #readOnly(text: string, values: unknown[]): Promise<StatementResult> {
    const setup = this.pool.setup(this.client, this.identity, true);
    try {
      const [, result] = await runPipeline(this.client, [
        { text: setup.text, values: prepareValues(setup.values), rows: false },
        { text, values, rows: true },
      ]);
      return result!;
    } catch (failure) {
      this.#state = 'failed';
      throw setupError(failure as PipelineFailure, 0);
    }
  }

  // Read-write: the first statement goes out with BEGIN and the set-up in one round trip; the
  // rest are ordinary statements of the open transaction.
  async #readWrite(text: string, values: unknown[]): Promise<StatementResult> {
    if (this.#state === 'open') {
      try {
        const result = await this.client.query({ text, values });
        return { command: result.command, rowCount: result.rowCount, rows: result.rows, fields: result.fields };
      } catch (err) {
        this.#state = 'failed';
        throw err;
      }
    }
    const setup = this.pool.setup(this.client, this.identity, false);
    const begin = this.options.isolation ? `begin isolation level ${this.options.isolation}` : 'begin';
    this.#state = 'open';
    try {
      const [, , result] = await runPipeline(this.client, [
        { text: begin, values: [], rows: false },
        { text: setup.text, values: prepareValues(setup.values), rows: false },
        { text, values, rows: true },
      ]);
      return result!;
    } catch (failure) {
      this.#state = 'failed';
      throw setupError(failure as PipelineFailure, 1);
    }
  }

  #guard(command: string): void {
    if (TRANSACTION_CONTROL.has(command)) {
      this.brokenBy = new PgwardenError(
        ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
        `a request may not run ${command}: it would end the request's context`,
        { hint: 'the connection was discarded; use savepoints for partial rollback' },
      );
      this.#state = 'failed';
      throw this.brokenBy;
    }
  }

  /** Commits a read-write transaction. */
  async finish(): Promise<void> {
    if (this.options.readOnly || this.#state === 'new') return;
    if (this.#state === 'failed') {
      await this.client.query('rollback');
      return;
    }
    await this.client.query('commit');
  }

  /** Rolls back after a failure; returns an error when the connection must be discarded. */
  async abandon(): Promise<Error | undefined> {
    if (this.brokenBy) return this.brokenBy;
    if (this.options.readOnly || this.#state === 'new') return undefined;
    try {
      await this.client.query('rollback');
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  close(): void {
    this.#state = 'closed';
  }
}

/** A `ContextPool`: `withRequestContext(pool, …)` runs callbacks through it. */
export function createContextPool(options: ContextPoolOptions): ContextPool {
  return new ContextPool(options);
}

/**
 * Runs `fn` with a database handle confined to one request's identity:
 * - `input` is a bearer token (verified here), verified claims, or `null` for anonymous;
 * - a bad token throws before a connection is taken;
 * - the transaction runs as the role the token maps to (allowlist; never superuser or
 *   BYPASSRLS), with the identity MAC'd into transaction-local settings;
 * - set-up and first statement share one round trip; a revoked session fails here.
 *
 * @example
 * const rows = await withRequestContext(ctxPool, bearer, async (db) =>
 *   (await db.query('select * from app.invoices where id = $1', [id])).rows);
 */
export function withRequestContext<T>(
  pool: ContextPool,
  input: ContextInput,
  fn: (db: ContextDb) => Promise<T>,
  options?: RunOptions,
): Promise<T> {
  return pool.run(input, fn, options);
}
