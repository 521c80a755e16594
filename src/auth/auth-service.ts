import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { AuthStore, type SessionListRow, type SessionRow } from './auth-store.js';
import {
  base32Encode,
  type MasterKey,
  newOpaqueToken,
  newRecoveryCodes,
  newTotpSecret,
  otpauthUri,
  parseOpaqueToken,
  recoveryCodeDigest,
  SecretBox,
  signAccessToken,
  verifyAccessToken,
  verifyTotp,
} from './crypto/index.js';
import { KeyRing } from './key-ring.js';
import { assertPasswordAcceptable, type Blocklist, type PasswordHasher } from './password/index.js';
import type { AccessGrant, LoginResult, Principal, RequestMeta, TokenSet } from './types.js';

/** Everything an AuthService needs, passed in (no globals, no env). */
export interface AuthServiceOptions {
  /** A pool logged in as a member of `<prefix>auth_service` (or the installer). */
  pool: pg.Pool;
  masterKey: MasterKey;
  hasher: PasswordHasher;
  blocklist: Blocklist;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  signingAlg: 'EdDSA' | 'ES256';
  passwordMinLength: number;
  passwordMaxLength: number;
  productWords: readonly string[];
  totpIssuer: string;
  adminRole: string;
  adminRequiresMfa: boolean;
  /** Milliseconds since the epoch; inject a fixed clock in tests. */
  now?: () => number;
  /** Allowed clock skew when verifying access tokens (seconds, at most 60). */
  clockToleranceSeconds?: number;
}

const invalidCredentials = () =>
  new PgwardenError(ErrorCodes.AUTH_INVALID_CREDENTIALS, 'invalid e-mail or password', {
    hint: 'check both and try again; repeated failures slow further attempts down',
  });
const invalidToken = () => new PgwardenError(ErrorCodes.AUTH_TOKEN_INVALID, 'the token is not valid');
const badInput = (message: string) => new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, message);

const str = (v: unknown, field: string, max = 1024): string => {
  if (typeof v !== 'string' || v.length === 0) throw badInput(`${field} is required`);
  if (v.length > max) throw badInput(`${field} is longer than ${max} characters`);
  if (v.includes('\u0000')) throw badInput(`${field} contains a NUL character`);
  return v;
};

/**
 * The identity service: registration, login with throttling and MFA, refresh-token rotation,
 * sessions, password change and admin controls, issuing EdDSA/ES256 access tokens. The HTTP API
 * (`pgwarden serve auth`) is a thin shell over it; applications can also call it in-process.
 *
 * @example
 * const auth = new AuthService({ pool, masterKey, hasher, blocklist, issuer: 'pgwarden', … });
 * await auth.register({ email: 'ada@example.com', password: 'correct horse battery staple', tenant: 'acme' });
 * const result = await auth.login({ email: 'ada@example.com', password: 'correct horse battery staple' });
 */
export class AuthService {
  readonly store: AuthStore;
  readonly keys: KeyRing;
  private readonly totpBox: SecretBox;
  /** Recovery codes are stored as HMACs under this master-key subkey, useless without the key. */
  private readonly recoveryKey: Buffer;
  private readonly now: () => number;

  constructor(private readonly options: AuthServiceOptions) {
    this.now = options.now ?? Date.now;
    this.store = new AuthStore(options.pool);
    this.keys = new KeyRing({
      store: this.store,
      masterKey: options.masterKey,
      alg: options.signingAlg,
      // a retired key stays published as long as a token it signed can live, plus skew
      keepPublishedSeconds: options.accessTokenTtlSeconds + 60,
      now: this.now,
    });
    this.totpBox = new SecretBox(options.masterKey, 'totp-secrets');
    this.recoveryKey = options.masterKey.deriveKey('recovery-codes');
  }

  /**
   * Registers a user. Never reveals whether the e-mail was already taken: a duplicate gives
   * `created: false` here (for trusted callers) and the HTTP API answers both alike.
   */
  async register(
    input: { email: unknown; password: unknown; tenant: unknown; displayName?: unknown; roles?: readonly string[] },
    meta: RequestMeta = {},
  ): Promise<{ created: boolean; userId: string | null }> {
    const email = str(input.email, 'email', 254).trim();
    const password = str(input.password, 'password', 4096);
    const tenant = str(input.tenant, 'tenant', 64);
    const displayName =
      input.displayName === undefined || input.displayName === null ? null : str(input.displayName, 'displayName', 200);
    this.checkPassword(password, email, displayName);
    const passwordHash = await this.options.hasher.hash(password);
    return this.store.registerUser({ email, passwordHash, tenant, displayName, roles: input.roles ?? [], meta });
  }

  /**
   * Password login. Unknown users, wrong passwords, throttled and disabled accounts all take the
   * same path (one argon2 verification, the same two statements) and end in the same PW300.
   */
  async login(input: { email: unknown; password: unknown }, meta: RequestMeta = {}): Promise<LoginResult> {
    const email = str(input.email, 'email', 254).trim();
    const password = str(input.password, 'password', 4096);
    const refresh = newOpaqueToken('refresh');
    const mfa = newOpaqueToken('mfa');
    const done = await this.passwordStep(email, password, meta, {
      purpose: 'login',
      refreshDigest: refresh.digest,
      mfaDigest: mfa.digest,
    });
    if (done.outcome === 'mfa_required') {
      return { kind: 'mfa_required', mfaToken: mfa.token, expiresAt: done.expiresAt ?? new Date(this.now()) };
    }
    if (!done.sessionId || !done.aal || !done.expiresAt) throw invalidCredentials();
    const session: SessionRow = {
      sessionId: done.sessionId,
      userId: done.userId,
      tenant: done.tenant,
      roles: done.roles,
      aal: done.aal,
      email: done.email,
      expiresAt: done.expiresAt,
      authzVersion: done.authzVersion,
    };
    return { kind: 'session', ...(await this.tokensFor(session, refresh.token)) };
  }

  /** Second login step: a TOTP code or a recovery code for the challenge from `login()`. */
  async verifyMfa(
    input: { mfaToken: unknown; code?: unknown; recoveryCode?: unknown },
    meta: RequestMeta = {},
  ): Promise<TokenSet> {
    const digest = parseOpaqueToken(typeof input.mfaToken === 'string' ? input.mfaToken : '', 'mfa');
    if (!digest) throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the MFA challenge is not valid');
    const challenge = await this.store.mfaChallenge(digest, typeof input.code === 'string');
    if (!challenge)
      throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the MFA challenge is not valid or has expired');
    const refresh = newOpaqueToken('refresh');
    let step: number | null = null;
    let recoveryDigest: Buffer | null = null;
    if (typeof input.code === 'string') {
      step = this.matchTotp(challenge, input.code);
      if (step === null) {
        await this.store.mfaFailed(challenge.userId, 'wrong_code', meta);
        throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the code is not valid');
      }
    } else if (typeof input.recoveryCode === 'string' && input.recoveryCode.length <= 64) {
      recoveryDigest = recoveryCodeDigest(input.recoveryCode, this.recoveryKey);
    } else {
      throw badInput('code or recoveryCode is required');
    }
    const session = await this.store.mfaComplete({
      challengeDigest: digest,
      step,
      recoveryDigest,
      refreshDigest: refresh.digest,
      meta,
    });
    if (!session) throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the code is not valid');
    return this.tokensFor(session, refresh.token);
  }

  /** Rotates a refresh token: the old one dies; presenting it again later revokes the session. */
  async refresh(refreshToken: unknown, meta: RequestMeta = {}): Promise<TokenSet> {
    const digest = parseOpaqueToken(typeof refreshToken === 'string' ? refreshToken : '', 'refresh');
    if (!digest) throw invalidToken();
    const next = newOpaqueToken('refresh');
    const session = await this.store.refreshSession(digest, next.digest, meta);
    if (!session) throw invalidToken();
    return this.tokensFor(session, next.token);
  }

  /**
   * Verifies an access token and that its session is still active (logout, revocation and
   * disabled users take effect at once).
   */
  async authenticate(accessToken: unknown): Promise<Principal> {
    if (typeof accessToken !== 'string' || accessToken.length > 8192) {
      throw new PgwardenError(ErrorCodes.AUTH_ACCESS_TOKEN_INVALID, 'the access token is not valid');
    }
    const claims = await verifyAccessToken(accessToken, {
      keys: async (kid: string) => (await this.keys.publicKey(kid))?.publicKey,
      issuer: this.options.issuer,
      audience: this.options.audience,
      now: this.now,
      clockToleranceSeconds: this.options.clockToleranceSeconds ?? 0,
    });
    const live = await this.store.checkSession(claims.sid);
    if (!live || live.userId !== claims.sub) {
      throw new PgwardenError(ErrorCodes.AUTH_ACCESS_TOKEN_INVALID, 'the session has ended', {
        detail: 'session revoked or expired',
      });
    }
    return {
      userId: claims.sub,
      sessionId: claims.sid,
      tenant: claims.tenant,
      roles: claims.roles,
      // the session may have been stepped up since the token was issued; never the reverse
      aal: live.aal,
      tokenId: claims.jti,
    };
  }

  async logout(principal: Principal, meta: RequestMeta = {}): Promise<void> {
    await this.store.endSession(principal.sessionId, 'logout', meta);
  }

  async listSessions(principal: Principal): Promise<SessionListRow[]> {
    return this.store.listSessions(principal.userId);
  }

  /** Ends one of the caller's own sessions. */
  async endSession(principal: Principal, sessionId: string, meta: RequestMeta = {}): Promise<boolean> {
    const own = await this.store.listSessions(principal.userId);
    if (!own.some((s) => s.sessionId === sessionId)) return false;
    return this.store.endSession(sessionId, 'ended_by_user', meta);
  }

  /** Ends every session of the caller except, optionally, the current one. */
  async endOtherSessions(principal: Principal, meta: RequestMeta = {}): Promise<number> {
    return this.store.revokeSessions(principal.userId, {
      except: principal.sessionId,
      reason: 'ended_by_user',
      actor: principal.userId,
      meta,
    });
  }

  /**
   * Changes the caller's password. The current password is checked under the login throttle
   * (a wrong one counts as a failure); other sessions end and the current one is replaced.
   */
  async changePassword(
    principal: Principal,
    input: { currentPassword: unknown; newPassword: unknown },
    meta: RequestMeta = {},
  ): Promise<TokenSet> {
    const current = str(input.currentPassword, 'currentPassword', 4096);
    const next = str(input.newPassword, 'newPassword', 4096);
    const user = await this.reauthenticate(principal, current, meta);
    this.checkPassword(next, user.email, user.displayName);
    const newHash = await this.options.hasher.hash(next);
    const refresh = newOpaqueToken('refresh');
    const session = await this.store.changePassword({
      userId: user.userId,
      sessionId: principal.sessionId,
      newHash,
      refreshDigest: refresh.digest,
      meta,
    });
    return this.tokensFor(session, refresh.token);
  }

  /**
   * Starts TOTP enrolment: returns the secret once (for the authenticator app); stores it sealed.
   * Needs the current password, so a stolen access token cannot bind the attacker's factor.
   */
  async enrolTotp(
    principal: Principal,
    input: { currentPassword: unknown },
    meta: RequestMeta = {},
  ): Promise<{ factorId: string; secret: string; otpauthUri: string }> {
    const user = await this.reauthenticate(principal, str(input.currentPassword, 'currentPassword', 4096), meta);
    const secret = newTotpSecret();
    const factorId = randomUUID();
    const sealed = this.totpBox.seal(secret, `totp:${factorId}`);
    await this.store.mfaEnrol(user.userId, factorId, sealed, this.options.masterKey.keyId);
    return {
      factorId,
      secret: base32Encode(secret),
      otpauthUri: otpauthUri({ secret, account: user.email, issuer: this.options.totpIssuer }),
    };
  }

  /**
   * Confirms enrolment with a first code: the factor becomes active, recovery codes are shown
   * once, every session of the user ends and a new aal2 session replaces the caller's.
   */
  async activateTotp(
    principal: Principal,
    input: { code: unknown },
    meta: RequestMeta = {},
  ): Promise<{ recoveryCodes: string[]; tokens: TokenSet }> {
    // The state first, counting nothing: only a code for a pending factor counts toward the lock,
    // so a stolen access token cannot lock the owner's factor by posting codes here.
    const current = await this.store.mfaFactor(principal.userId);
    if (!current || current.status !== 'pending') {
      throw new PgwardenError(ErrorCodes.AUTH_MFA_STATE, 'no pending second factor to activate');
    }
    if (typeof input.code !== 'string') throw badInput('code is required');
    const factor = await this.store.mfaAttempt(principal.userId, meta);
    const step = factor ? this.matchTotp(factor, input.code) : null;
    if (!factor || step === null) {
      await this.store.mfaFailed(principal.userId, factor ? 'wrong_code_enrolment' : 'locked', meta);
      throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the code is not valid');
    }
    const codes = newRecoveryCodes(10);
    const refresh = newOpaqueToken('refresh');
    const session = await this.store.mfaActivate({
      userId: principal.userId,
      factorId: factor.factorId,
      step,
      recoveryDigests: codes.map((c) => recoveryCodeDigest(c.code, this.recoveryKey)),
      sessionId: principal.sessionId,
      refreshDigest: refresh.digest,
      meta,
    });
    if (!session) throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the code was already used');
    return { recoveryCodes: codes.map((c) => c.code), tokens: await this.tokensFor(session, refresh.token) };
  }

  /**
   * Raises the caller to aal2 with a TOTP code. The old session ends; a new aal2 session (new id,
   * new refresh token) replaces it. Wrong codes count toward the user's second-factor lock.
   */
  async stepUp(principal: Principal, input: { code: unknown }, meta: RequestMeta = {}): Promise<TokenSet> {
    // Nothing to raise, or nothing to check against: refused without counting toward the lock.
    if (principal.aal === 'aal2') throw new PgwardenError(ErrorCodes.AUTH_MFA_STATE, 'the session is already aal2');
    const current = await this.store.mfaFactor(principal.userId);
    if (!current || current.status !== 'active') {
      throw new PgwardenError(ErrorCodes.AUTH_MFA_STATE, 'no active second factor');
    }
    if (typeof input.code !== 'string') throw badInput('code is required');
    const factor = await this.store.mfaAttempt(principal.userId, meta);
    const step = factor ? this.matchTotp(factor, input.code) : null;
    const refresh = newOpaqueToken('refresh');
    const session =
      factor && step !== null
        ? await this.store.mfaStepUp({
            sessionId: principal.sessionId,
            factorId: factor.factorId,
            step,
            refreshDigest: refresh.digest,
            meta,
          })
        : null;
    if (!session) {
      if (step === null) await this.store.mfaFailed(principal.userId, factor ? 'wrong_code_step_up' : 'locked', meta);
      throw new PgwardenError(ErrorCodes.AUTH_MFA_INVALID, 'the code is not valid');
    }
    return this.tokensFor(session, refresh.token);
  }

  /** Removes the second factor; needs an aal2 session and the current password. */
  async disableTotp(principal: Principal, input: { currentPassword: unknown }, meta: RequestMeta = {}): Promise<void> {
    requireAal2(principal);
    await this.reauthenticate(principal, str(input.currentPassword, 'currentPassword', 4096), meta);
    if (!(await this.store.mfaDisable(principal.userId, principal.userId, meta))) {
      throw new PgwardenError(ErrorCodes.AUTH_MFA_STATE, 'no second factor to disable');
    }
  }

  /** Admin: disable or re-enable a user; disabling ends every session at once. */
  async setUserStatus(
    admin: Principal | null,
    userId: string,
    status: 'active' | 'disabled',
    reason: string | null = null,
  ): Promise<void> {
    if (admin) await this.requireAdmin(admin);
    await this.store.setUserStatus(userId, status, reason, admin ? admin.userId : null);
  }

  /** Admin: end every session of a user. */
  async revokeUserSessions(admin: Principal | null, userId: string): Promise<number> {
    if (admin) await this.requireAdmin(admin);
    return this.store.revokeSessions(userId, { reason: 'revoked_by_admin', actor: admin?.userId ?? null });
  }

  /** Admin: the active sessions of a user. */
  async listUserSessions(admin: Principal | null, userId: string): Promise<SessionListRow[]> {
    if (admin) await this.requireAdmin(admin);
    return this.store.listSessions(userId);
  }

  /** Live figures of the argon2 limiter, for `/metrics`. */
  hasherStats(): () => { active: number; queued: number } {
    return () => this.options.hasher.stats();
  }

  /** The JWKS document for `/.well-known/jwks.json`. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    await this.keys.active();
    return this.keys.jwks();
  }

  /** Rotates the JWT signing key; the old one stays in the JWKS until its tokens have expired. */
  async rotateSigningKey(): Promise<string> {
    return this.keys.rotate();
  }

  /** Throws PW308 unless the principal holds the admin role (and, when configured, aal2 → PW307). */
  assertAdmin(principal: Principal): Promise<void> {
    return this.requireAdmin(principal);
  }

  private async requireAdmin(principal: Principal): Promise<void> {
    if (!principal.roles.includes(this.options.adminRole)) {
      throw new PgwardenError(ErrorCodes.AUTH_FORBIDDEN, 'this needs the admin role');
    }
    if (this.options.adminRequiresMfa) requireAal2(principal);
    // A token's roles include those assigned in its tenant; the admin endpoints act across
    // tenants (they create users with global roles, disable anyone), so the role must be global.
    const user = await this.store.getUser(principal.userId);
    if (!user || user.status !== 'active' || !user.roles.includes(this.options.adminRole)) {
      throw new PgwardenError(ErrorCodes.AUTH_FORBIDDEN, 'this needs the admin role held globally, not in one tenant');
    }
  }

  private checkPassword(password: string, email: string, displayName: string | null): void {
    assertPasswordAcceptable(
      password,
      { email, displayName: displayName ?? undefined },
      {
        minLength: this.options.passwordMinLength,
        maxLength: this.options.passwordMaxLength,
        blocklist: this.options.blocklist,
        productWords: [...this.options.productWords],
      },
    );
  }

  /**
   * Checks the caller's current password under the login throttle (a wrong one counts as a
   * failure) before a sensitive change: password, second factor.
   */
  private async reauthenticate(principal: Principal, password: string, meta: RequestMeta) {
    const user = await this.store.getUser(principal.userId);
    if (!user) throw invalidToken();
    await this.passwordStep(user.email, password, meta, { purpose: 'reauth' });
    return user;
  }

  /**
   * The password step shared by login and re-authentication: reserve the attempt, verify (or
   * verify a dummy), finish. Throws the one generic PW300 on any refusal.
   */
  private async passwordStep(
    email: string,
    password: string,
    meta: RequestMeta,
    finish: { purpose: 'login' | 'reauth'; refreshDigest?: Buffer; mfaDigest?: Buffer },
  ) {
    this.refuseWhenBusy();
    const begin = await this.store.beginLogin(email, meta);
    const stored = begin.allowed ? begin.passwordHash : null;
    // only a login upgrades the stored hash; a re-authentication before a change leaves it alone
    const { verified, newHash } = await this.verifyOrUndo(email, meta, stored, password, finish.purpose === 'login');
    const done = await this.store.finishLogin({
      email,
      meta,
      verified,
      reason: begin.allowed ? null : (begin.reason ?? 'refused'),
      newHash,
      ...finish,
    });
    if (!done) throw invalidCredentials();
    return done;
  }

  /** PW311 before anything is counted, when the hashing queue is already full. */
  private refuseWhenBusy(): void {
    const stats = this.options.hasher.stats();
    if (stats.queued >= stats.maxQueue) {
      throw new PgwardenError(ErrorCodes.AUTH_BUSY, 'too many logins are being checked; retry shortly');
    }
  }

  /** verifyPassword, undoing the attempt begin_login counted when the hasher refuses (PW311). */
  private async verifyOrUndo(
    email: string,
    meta: RequestMeta,
    stored: string | null,
    password: string,
    rehash = true,
  ): Promise<{ verified: boolean; newHash: string | null }> {
    try {
      return await this.verifyPassword(stored, password, rehash);
    } catch (err) {
      if (err instanceof PgwardenError && err.code === ErrorCodes.AUTH_BUSY) {
        await this.store.finishLogin({ email, meta, verified: false, reason: 'busy' });
      }
      throw err;
    }
  }

  /**
   * One argon2 verification whatever happens: against the stored hash, or against the dummy hash
   * when there is none to check, so the time does not tell the cases apart.
   */
  private async verifyPassword(
    stored: string | null,
    password: string,
    rehash = true,
  ): Promise<{ verified: boolean; newHash: string | null }> {
    const hasher = this.options.hasher;
    if (!stored) {
      await hasher.verify(await hasher.dummyHash(), password);
      return { verified: false, newHash: null };
    }
    const verified = await hasher.verify(stored, password);
    if (!verified || !rehash || !hasher.needsRehash(stored)) return { verified, newHash: null };
    try {
      return { verified, newHash: await hasher.hash(password) };
    } catch (err) {
      // Saturated after a successful check: log in now, upgrade the hash next time. Undoing the
      // count here would turn "slow PW311" into a signal that the password was right.
      if (err instanceof PgwardenError && err.code === ErrorCodes.AUTH_BUSY) return { verified, newHash: null };
      throw err;
    }
  }

  private matchTotp(factor: { secretSealed: Buffer; factorId: string; lastUsedStep: number | null }, code: unknown) {
    if (typeof code !== 'string') return null;
    const secret = this.totpBox.open(factor.secretSealed, `totp:${factor.factorId}`);
    const step = verifyTotp(secret, code, this.now(), { window: 1 });
    if (step === null) return null;
    // replay: the database enforces it too (compare-and-set), this only saves a round trip
    if (factor.lastUsedStep !== null && step <= factor.lastUsedStep) return null;
    return step;
  }

  private async accessGrant(s: {
    userId: string;
    sessionId: string;
    tenant: string;
    roles: string[];
    aal: 'aal1' | 'aal2';
    authzVersion: number | null;
  }): Promise<AccessGrant> {
    const key = await this.keys.active();
    const accessToken = await signAccessToken({
      key,
      claims: {
        iss: this.options.issuer,
        aud: this.options.audience,
        sub: s.userId,
        sid: s.sessionId,
        tenant: s.tenant,
        roles: s.roles,
        aal: s.aal,
        ...(s.authzVersion === null ? {} : { av: s.authzVersion }),
      },
      ttlSeconds: this.options.accessTokenTtlSeconds,
      now: this.now,
    });
    return {
      accessToken,
      tokenType: 'Bearer',
      expiresIn: this.options.accessTokenTtlSeconds,
      sessionId: s.sessionId,
      userId: s.userId,
      tenant: s.tenant,
      aal: s.aal,
    };
  }

  private async tokensFor(session: SessionRow, refreshToken: string): Promise<TokenSet> {
    return { ...(await this.accessGrant(session)), refreshToken, sessionExpiresAt: session.expiresAt };
  }
}

function requireAal2(principal: Principal): void {
  if (principal.aal !== 'aal2') {
    throw new PgwardenError(ErrorCodes.AUTH_INSUFFICIENT_AAL, 'this needs a session verified with a second factor', {
      hint: 'verify a TOTP code (POST /mfa/verify) and retry with the new access token',
    });
  }
}
