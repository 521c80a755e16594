import type pg from 'pg';
import { wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** Where a request came from, as the service saw it. Stored on sessions and events. */
export interface RequestMeta {
  /** End-user address (after trusted proxies); null when unknown. */
  source?: string | null | undefined;
  userAgent?: string | null | undefined;
}

/** A session row as the auth functions return it. */
export interface SessionRow {
  sessionId: string;
  userId: string;
  tenant: string;
  roles: string[];
  aal: 'aal1' | 'aal2';
  email: string;
  expiresAt: Date;
  /** users.authz_version when the row was read; access tokens carry it as `av`. */
  authzVersion: number | null;
}

export interface BeginLoginRow {
  passwordHash: string | null;
  allowed: boolean;
  reason: string | null;
}

export interface FinishLoginRow {
  outcome: 'session' | 'mfa_required' | 'verified';
  sessionId: string | null;
  userId: string;
  tenant: string;
  roles: string[];
  aal: 'aal1' | 'aal2' | null;
  email: string;
  expiresAt: Date | null;
  authzVersion: number | null;
}

export interface MfaFactorRow {
  factorId: string;
  status: 'pending' | 'active';
  secretSealed: Buffer;
  masterKeyId: string;
  lastUsedStep: number | null;
}

export interface UserRow {
  userId: string;
  email: string;
  tenant: string;
  displayName: string | null;
  roles: string[];
  status: 'active' | 'disabled';
  mfa: boolean;
  createdAt: Date;
}

export interface SessionListRow {
  sessionId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  clientAddr: string | null;
  userAgent: string | null;
  aal: 'aal1' | 'aal2';
}

export interface SigningKeyRow {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  publicJwk: Record<string, unknown>;
  active: boolean;
  expiresAt: Date | null;
}

export interface ActiveSigningKeyRow {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  publicJwk: Record<string, unknown>;
  privateKeySealed: Buffer;
  masterKeyId: string;
}

type Row = Record<string, unknown>;

const toSession = (r: Row): SessionRow => ({
  sessionId: r.session_id as string,
  userId: r.user_id as string,
  tenant: r.tenant as string,
  roles: r.roles as string[],
  aal: r.aal as 'aal1' | 'aal2',
  email: r.email as string,
  expiresAt: r.expires_at as Date,
  authzVersion: authzVersion(r.authz_version),
});

/** users.authz_version (bigint, so text on the wire) as a number; null when absent. */
const authzVersion = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The auth SQL functions, one method each. Every call is one statement (one transaction), so a
 * counter taken by `beginLogin` stays counted whatever happens after. Only derived values travel:
 * PHC hashes and SHA-256 token digests, never a password or a raw token.
 *
 * @example
 * const store = new AuthStore(pool);
 * const begin = await store.beginLogin('ada@example.com', { source: '203.0.113.7' });
 */
export class AuthStore {
  constructor(private readonly pool: pg.Pool) {}

  private async rows(sql: string, params: unknown[]): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(sql, params)).rows;
    } catch (err) {
      const wrapped = wrapPgError(err);
      if (wrapped.sqlState === '3F000' || (wrapped.sqlState === '42883' && /auth\./.test(wrapped.message))) {
        throw new PgwardenError(ErrorCodes.AUTH_NOT_INSTALLED, 'the auth module is not installed in this database', {
          hint: 'run `pgwarden install` (any tier includes auth)',
          cause: err,
        });
      }
      throw wrapped;
    }
  }

  async registerUser(input: {
    email: string;
    passwordHash: string;
    tenant: string;
    displayName?: string | null | undefined;
    roles?: readonly string[] | undefined;
    meta: RequestMeta;
  }): Promise<{ userId: string | null; created: boolean }> {
    const [r] = await this.rows('select * from auth.register_user($1, $2, $3, $4, $5, $6)', [
      input.email,
      input.passwordHash,
      input.tenant,
      input.displayName ?? null,
      input.roles ?? [],
      input.meta.source ?? null,
    ]);
    return { userId: (r?.user_id as string | null) ?? null, created: r?.created === true };
  }

  async beginLogin(email: string, meta: RequestMeta): Promise<BeginLoginRow> {
    const [r] = await this.rows('select * from auth.begin_login($1, $2)', [email, meta.source ?? null]);
    return {
      passwordHash: (r?.password_hash as string | null) ?? null,
      allowed: r?.allowed === true,
      reason: (r?.reason as string | null) ?? null,
    };
  }

  async finishLogin(input: {
    email: string;
    meta: RequestMeta;
    verified: boolean;
    reason: string | null;
    newHash?: string | null | undefined;
    refreshDigest?: Buffer | null | undefined;
    mfaDigest?: Buffer | null | undefined;
    purpose?: 'login' | 'reauth';
  }): Promise<FinishLoginRow | null> {
    const [r] = await this.rows(`select * from auth.finish_login($1, $2, $3, $4, $5, $6, $7, $8, null, $9)`, [
      input.email,
      input.meta.source ?? null,
      input.meta.userAgent ?? null,
      input.verified,
      input.reason,
      input.newHash ?? null,
      input.refreshDigest ?? null,
      input.mfaDigest ?? null,
      input.purpose ?? 'login',
    ]);
    if (!r) return null;
    return {
      outcome: r.outcome as FinishLoginRow['outcome'],
      sessionId: (r.session_id as string | null) ?? null,
      userId: r.user_id as string,
      tenant: r.tenant as string,
      roles: r.roles as string[],
      aal: (r.aal as 'aal1' | 'aal2' | null) ?? null,
      email: r.email as string,
      expiresAt: (r.expires_at as Date | null) ?? null,
      authzVersion: authzVersion(r.authz_version),
    };
  }

  async refreshSession(refreshDigest: Buffer, newDigest: Buffer, meta: RequestMeta): Promise<SessionRow | null> {
    const [r] = await this.rows('select * from auth.refresh_session($1, $2, $3, $4)', [
      refreshDigest,
      newDigest,
      meta.source ?? null,
      meta.userAgent ?? null,
    ]);
    return r ? toSession(r) : null;
  }

  async checkSession(
    sessionId: string,
  ): Promise<{ sessionId: string; userId: string; tenant: string; aal: 'aal1' | 'aal2' } | null> {
    const [r] = await this.rows('select * from auth.check_session($1)', [sessionId]);
    if (!r) return null;
    return {
      sessionId: r.session_id as string,
      userId: r.user_id as string,
      tenant: r.tenant as string,
      aal: r.aal as 'aal1' | 'aal2',
    };
  }

  async endSession(sessionId: string, reason: string, meta: RequestMeta): Promise<boolean> {
    const [r] = await this.rows('select auth.end_session($1, $2, $3) as ended', [
      sessionId,
      reason,
      meta.source ?? null,
    ]);
    return r?.ended === true;
  }

  async revokeSessions(
    userId: string,
    options: { except?: string | null; reason: string; actor?: string | null; meta?: RequestMeta },
  ): Promise<number> {
    const [r] = await this.rows('select auth.revoke_sessions($1, $2, $3, $4, $5) as n', [
      userId,
      options.except ?? null,
      options.reason,
      options.actor ?? null,
      options.meta?.source ?? null,
    ]);
    return Number(r?.n ?? 0);
  }

  async listSessions(userId: string): Promise<SessionListRow[]> {
    const rows = await this.rows('select * from auth.list_sessions($1)', [userId]);
    return rows.map((r) => ({
      sessionId: r.session_id as string,
      createdAt: r.created_at as Date,
      lastSeenAt: r.last_seen_at as Date,
      expiresAt: r.expires_at as Date,
      clientAddr: (r.client_addr as string | null) ?? null,
      userAgent: (r.user_agent as string | null) ?? null,
      aal: r.aal as 'aal1' | 'aal2',
    }));
  }

  async changePassword(input: {
    userId: string;
    sessionId: string;
    newHash: string;
    refreshDigest: Buffer;
    meta: RequestMeta;
  }): Promise<SessionRow> {
    const [r] = await this.rows('select * from auth.change_password($1, $2, $3, $4, $5, $6)', [
      input.userId,
      input.sessionId,
      input.newHash,
      input.refreshDigest,
      input.meta.source ?? null,
      input.meta.userAgent ?? null,
    ]);
    if (!r) throw new PgwardenError(ErrorCodes.AUTH_TOKEN_INVALID, 'the session is not valid');
    return toSession(r);
  }

  async setPassword(userId: string, newHash: string, actor: string | null): Promise<void> {
    await this.rows('select auth.set_password($1, $2, $3)', [userId, newHash, actor]);
  }

  async setUserStatus(userId: string, status: 'active' | 'disabled', reason: string | null, actor: string | null) {
    await this.rows('select auth.set_user_status($1, $2, $3, $4)', [userId, status, reason, actor]);
  }

  async getUser(userId: string): Promise<UserRow | null> {
    const [r] = await this.rows('select * from auth.get_user($1)', [userId]);
    if (!r) return null;
    return {
      userId: r.user_id as string,
      email: r.email as string,
      tenant: r.tenant as string,
      displayName: (r.display_name as string | null) ?? null,
      roles: r.roles as string[],
      status: r.status as 'active' | 'disabled',
      mfa: r.mfa === true,
      createdAt: r.created_at as Date,
    };
  }

  async mfaEnrol(userId: string, factorId: string, secretSealed: Buffer, masterKeyId: string): Promise<void> {
    await this.rows('select auth.mfa_enrol($1, $2, $3, $4)', [userId, factorId, secretSealed, masterKeyId]);
  }

  async mfaFactor(userId: string): Promise<MfaFactorRow | null> {
    const [r] = await this.rows('select * from auth.mfa_factor($1)', [userId]);
    return r ? toFactor(r) : null;
  }

  async mfaActivate(input: {
    userId: string;
    factorId: string;
    step: number;
    recoveryDigests: Buffer[];
    sessionId: string;
    refreshDigest: Buffer;
    meta: RequestMeta;
  }): Promise<SessionRow | null> {
    const [r] = await this.rows('select * from auth.mfa_activate($1, $2, $3, $4, $5, $6, $7, $8)', [
      input.userId,
      input.factorId,
      input.step,
      input.recoveryDigests,
      input.sessionId,
      input.refreshDigest,
      input.meta.source ?? null,
      input.meta.userAgent ?? null,
    ]);
    return r ? toSession(r) : null;
  }

  /** Counts a second-factor attempt for step-up or enrolment; null when the factor is locked. */
  async mfaAttempt(userId: string, meta: RequestMeta): Promise<MfaFactorRow | null> {
    const [r] = await this.rows('select * from auth.mfa_attempt($1, $2)', [userId, meta.source ?? null]);
    return r ? toFactor(r) : null;
  }

  async mfaChallenge(challengeDigest: Buffer, totp: boolean): Promise<(MfaFactorRow & { userId: string }) | null> {
    const [r] = await this.rows('select * from auth.mfa_challenge($1, $2)', [challengeDigest, totp]);
    return r ? { ...toFactor(r), status: 'active', userId: r.user_id as string } : null;
  }

  async mfaComplete(input: {
    challengeDigest: Buffer;
    step: number | null;
    recoveryDigest: Buffer | null;
    refreshDigest: Buffer;
    meta: RequestMeta;
  }): Promise<SessionRow | null> {
    const [r] = await this.rows('select * from auth.mfa_complete($1, $2, $3, $4, $5, $6)', [
      input.challengeDigest,
      input.step,
      input.recoveryDigest,
      input.refreshDigest,
      input.meta.source ?? null,
      input.meta.userAgent ?? null,
    ]);
    return r ? toSession(r) : null;
  }

  async mfaFailed(userId: string, reason: string, meta: RequestMeta): Promise<void> {
    await this.rows('select auth.mfa_failed($1, $2, $3)', [userId, reason, meta.source ?? null]);
  }

  async mfaStepUp(input: {
    sessionId: string;
    factorId: string;
    step: number;
    refreshDigest: Buffer;
    meta: RequestMeta;
  }): Promise<SessionRow | null> {
    const [r] = await this.rows('select * from auth.mfa_step_up($1, $2, $3, $4, $5, $6)', [
      input.sessionId,
      input.factorId,
      input.step,
      input.refreshDigest,
      input.meta.source ?? null,
      input.meta.userAgent ?? null,
    ]);
    return r ? toSession(r) : null;
  }

  async mfaDisable(userId: string, actor: string, meta: RequestMeta): Promise<boolean> {
    const [r] = await this.rows('select auth.mfa_disable($1, $2, $3) as ok', [userId, actor, meta.source ?? null]);
    return r?.ok === true;
  }

  async addSigningKey(input: {
    kid: string;
    alg: 'EdDSA' | 'ES256';
    publicJwk: Record<string, unknown>;
    privateSealed: Buffer;
    masterKeyId: string;
    keepPublishedSeconds: number;
  }): Promise<void> {
    await this.rows(`select auth.add_signing_key($1, $2, $3, $4, $5, pg_catalog.make_interval(secs => $6))`, [
      input.kid,
      input.alg,
      JSON.stringify(input.publicJwk),
      input.privateSealed,
      input.masterKeyId,
      input.keepPublishedSeconds,
    ]);
  }

  async publishedSigningKeys(): Promise<SigningKeyRow[]> {
    const rows = await this.rows('select * from auth.published_signing_keys()', []);
    return rows.map((r) => ({
      kid: r.kid as string,
      alg: r.alg as 'EdDSA' | 'ES256',
      publicJwk: r.public_jwk as Record<string, unknown>,
      active: r.active === true,
      expiresAt: (r.expires_at as Date | null) ?? null,
    }));
  }

  async activeSigningKey(): Promise<ActiveSigningKeyRow | null> {
    const [r] = await this.rows('select * from auth.active_signing_key()', []);
    if (!r) return null;
    return {
      kid: r.kid as string,
      alg: r.alg as 'EdDSA' | 'ES256',
      publicJwk: r.public_jwk as Record<string, unknown>,
      privateKeySealed: r.private_key_sealed as Buffer,
      masterKeyId: r.master_key_id as string,
    };
  }

  async prune(keepDays: number): Promise<Record<string, number>> {
    const [r] = await this.rows('select * from auth.prune(pg_catalog.make_interval(days => $1))', [keepDays]);
    return Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, Number(v)]));
  }

  /** True when the database answers and the auth module is installed. */
  async ready(): Promise<boolean> {
    const [r] = await this.rows(`select pg_catalog.to_regnamespace('auth') is not null as ok`, []);
    return r?.ok === true;
  }
}

function toFactor(r: Row): MfaFactorRow {
  return {
    factorId: r.factor_id as string,
    status: r.status as 'pending' | 'active',
    secretSealed: r.secret_sealed as Buffer,
    masterKeyId: r.master_key_id as string,
    lastUsedStep: r.last_used_step === null || r.last_used_step === undefined ? null : Number(r.last_used_step),
  };
}
