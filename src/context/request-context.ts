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
  isContextIdentity,
  checkRoleMapping,
  type ClaimMapping,
  identityFromClaims,
  type RoleMapping,
} from './identity.js';
import {
  type PipelineFailure,
  type PipelineStep,
  prepareValues,
  runPipeline,
  type StatementResult,
  transactionStatus,
} from './pipeline.js';
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
  /**
   * Schemas of the per-request `search_path`, set transaction-locally with every context and
   * always followed by `pg_temp`. Temporary objects live as long as the pooled session, and a
   * temporary type or table earlier in the path would shadow real ones (`$1::uuid`, `notes`) in
   * later requests. Default `['public']`.
   */
  searchPath?: readonly string[];
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
// Command tags that end or open a transaction, or leave named session state, checked after each
// statement as a backstop to the keyword check before it: the request fails and its connection
// is discarded. (ROLLBACK TO SAVEPOINT also has the ROLLBACK tag; the transaction status tells
// them apart, so only the status check applies to it.)
const TRANSACTION_CONTROL = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'PREPARE', 'DEALLOCATE', 'DISCARD']);

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
        name === 'search_path' ||
        name.startsWith('pgwarden.') ||
        name === 'session_authorization'
      ) {
        throw new PgwardenError(
          ErrorCodes.CONTEXT_CONFIG_INVALID,
          `setting ${JSON.stringify(name)} cannot be set per request`,
        );
      }
    }
    const searchPath = options.searchPath ?? ['public'];
    if (
      !Array.isArray(searchPath) ||
      searchPath.some((x) => typeof x !== 'string' || x.length === 0 || x === 'pg_temp')
    ) {
      throw new PgwardenError(
        ErrorCodes.CONTEXT_CONFIG_INVALID,
        'searchPath lists schema names (pg_temp is added last)',
      );
    }
    this.#settingValues = [
      [...searchPath.map((x) => `"${x.replaceAll('"', '""')}"`), 'pg_temp'].join(', '),
      ...settings.map(([, value]) => String(value)),
    ];
    // One statement sets everything: the MAC'd context, its check (which raises on a bad MAC, an
    // ended session or a refused role), the role, read-only mode and the configured settings.
    // Values are bound parameters only; the text is fixed per pool.
    // auth.context_enter checks the session of tokens that name one (revoked, expired, roles
    // changed); other contexts need no entry check, since every helper verifies what it reads.
    const setup = (entry: boolean) => {
      const first = entry ? 8 : 5;
      const extra = [['search_path'], ...settings]
        .map(([name], i) => `, pg_catalog.set_config('${name}', $${first + i}, true)`)
        .join('');
      return (
        `select pg_catalog.set_config('pgwarden.context', $1, true), pg_catalog.set_config('pgwarden.context_mac', $2, true), ` +
        (entry ? 'auth.context_enter($5::pg_catalog.uuid, $6::pg_catalog.text, $7::pg_catalog.int8), ' : '') +
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
    // A role a previous request left at session level would make the check run as that role.
    await client.query('reset role');
    const { rows } = await client.query<{
      key_active: boolean;
      unsafe_roles: string[];
      login_reaches: string[];
      login_inherits: boolean;
    }>('select * from auth.context_check($1, $2)', [this.#key.kid, [...this.#allowedRoles()]]);
    const [r] = rows;
    if (!r?.key_active) {
      throw new PgwardenError(ErrorCodes.CONTEXT_INVALID, 'the request context key is not known to this database', {
        hint: 'register it with `pgwarden keys context` (it is derived from the master key)',
        detail: `kid ${this.#key.kid}`,
      });
    }
    if (r.login_reaches.length > 0 || r.login_inherits) {
      throw new PgwardenError(
        ErrorCodes.CONTEXT_ROLE_REFUSED,
        r.login_reaches.length > 0
          ? "the pool's login can become a superuser or BYPASSRLS role, or the owner; requests would not be confined"
          : "the pool's login inherits its roles' privileges; it must be NOINHERIT",
        {
          detail: r.login_reaches.length > 0 ? `reachable: ${r.login_reaches.join(', ')}` : 'rolinherit is true',
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
    if (typeof input === 'object' && isContextIdentity(input)) {
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
    // A reported setting (client_encoding, DateStyle, TimeZone, …) changed during the request is
    // session state the next request would inherit: that connection is not reused.
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
    const onParameter = (msg: { parameterName?: string }) => {
      session.brokenBy ??= new PgwardenError(
        ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
        `a request changed the session setting ${String(msg.parameterName)}; the connection was discarded`,
      );
    };
    let discard: Error | undefined;
    try {
      await this.#ensureChecked(client);
      connection.on('parameterStatus', onParameter);
      const result = await fn(session);
      await session.finish();
      return result;
    } catch (err) {
      discard = await session.abandon();
      throw err;
    } finally {
      connection.removeListener('parameterStatus', onParameter);
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

/**
 * The leading keyword of a statement, after comments and whitespace: statements that end or open
 * a transaction are refused before they are sent (a COMMIT would otherwise already have
 * committed by the time its tag is seen).
 */
function leadingKeywords(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.replace(/^\s+/, '');
    if (trimmed.startsWith('--')) {
      const nl = trimmed.indexOf('\n');
      rest = nl < 0 ? '' : trimmed.slice(nl + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      rest = end < 0 ? '' : trimmed.slice(end + 2);
    } else {
      return trimmed.slice(0, 40).toUpperCase().replace(/\s+/g, ' ');
    }
  }
}
const REFUSED_KEYWORDS =
  /^(BEGIN|START|COMMIT|END|ABORT|ROLLBACK(?! TO\b)(?! WORK TO\b)(?! TRANSACTION TO\b)|PREPARE|DEALLOCATE|DISCARD|RESET SESSION)\b/;

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
    const leading = leadingKeywords(text);
    const keyword = REFUSED_KEYWORDS.exec(leading);
    if (keyword) {
      throw new PgwardenError(
        ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
        `a request may not run ${keyword[1]}: it would end the request's transaction or its session state`,
        { hint: 'use SAVEPOINT and ROLLBACK TO SAVEPOINT for partial rollback' },
      );
    }
    // A read-only statement runs in the implicit transaction of its pipeline. There a DO block or
    // a procedure may COMMIT and carry on outside the context, so those need a read-write request.
    const nonAtomic = /^(DO|CALL)\b/.exec(leading);
    if (this.options.readOnly && nonAtomic) {
      throw new PgwardenError(
        ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
        `a read-only request may not run ${nonAtomic[1]}: it could commit outside the request's transaction`,
        { hint: 'run DO blocks and procedures in a read-write request' },
      );
    }
    const prepared = prepareValues(values);
    this.#inFlight = true;
    try {
      return (
        this.options.readOnly ? await this.#readOnly(text, prepared) : await this.#readWrite(text, prepared)
      ) as StatementResult<R>;
    } finally {
      this.#inFlight = false;
    }
  }

  /** A pipeline on this request's connection; failures mark the request failed. */
  async #pipeline(steps: PipelineStep[], setupStep: number, expected: 'I' | 'T', statement: number) {
    try {
      const { results, status } = await runPipeline(this.client, steps);
      if (status !== expected) this.#broken('the transaction state changed under the request');
      const result = results[statement]!;
      if (TRANSACTION_CONTROL.has(result.command)) this.#broken(`a request may not run ${result.command}`);
      return result;
    } catch (failure) {
      if (failure instanceof PgwardenError) throw failure;
      const f = failure as PipelineFailure;
      this.#state = 'failed';
      if (f.copyAttempted) {
        this.brokenBy ??= new PgwardenError(ErrorCodes.CONTEXT_TRANSACTION_CONTROL, 'COPY FROM STDIN in a request');
      }
      throw setupError(f, setupStep);
    }
  }

  #broken(message: string): never {
    this.#state = 'failed';
    this.brokenBy = new PgwardenError(
      ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
      `${message}; the connection was discarded`,
      {
        hint: 'use SAVEPOINT and ROLLBACK TO SAVEPOINT for partial rollback',
      },
    );
    throw this.brokenBy;
  }

  // Read-only: the set-up and the statement in one round trip, in the implicit transaction that
  // ends at the Sync, read-only from the set-up on (DO and CALL, which could commit inside it,
  // are refused above).
  async #readOnly(text: string, values: unknown[]): Promise<StatementResult> {
    const setup = this.pool.setup(this.client, this.identity, true);
    return this.#pipeline(
      [
        { text: setup.text, values: prepareValues(setup.values), rows: false },
        { text, values, rows: true },
      ],
      0,
      'I',
      1,
    );
  }

  // Read-write: the first statement goes out with BEGIN and the set-up in one round trip; the
  // rest are single statements of the open transaction, always over the extended protocol (one
  // statement per message: no stacked queries).
  async #readWrite(text: string, values: unknown[]): Promise<StatementResult> {
    if (this.#state === 'open') return this.#pipeline([{ text, values, rows: true }], -1, 'T', 0);
    const setup = this.pool.setup(this.client, this.identity, false);
    const begin = this.options.isolation ? `begin isolation level ${this.options.isolation}` : 'begin';
    this.#state = 'open';
    return this.#pipeline(
      [
        { text: begin, values: [], rows: false },
        { text: setup.text, values: prepareValues(setup.values), rows: false },
        { text, values, rows: true },
      ],
      1,
      'T',
      2,
    );
  }

  /** Commits a read-write transaction; a request whose statement failed throws PW337 here. */
  async finish(): Promise<void> {
    if (this.#state === 'new' || (this.options.readOnly && this.#state !== 'failed')) return;
    if (this.#state === 'failed') {
      await this.abandon();
      throw new PgwardenError(ErrorCodes.CONTEXT_CLOSED, 'a statement of this request failed; nothing was committed', {
        hint: 'let the statement error propagate, or use a savepoint to recover from it',
      });
    }
    await this.client.query('commit');
    if (transactionStatus(this.client) !== 'I') this.#broken('COMMIT left a transaction open');
  }

  /** Rolls back after a failure; returns an error when the connection must be discarded. */
  async abandon(): Promise<Error | undefined> {
    if (this.brokenBy) return this.brokenBy;
    if (this.#state === 'new') return undefined;
    try {
      await this.client.query('rollback');
      return transactionStatus(this.client) === 'I' ? undefined : new Error('the connection is not idle');
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
