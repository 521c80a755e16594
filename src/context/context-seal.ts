import { createHash, createHmac } from 'node:crypto';
import type { MasterKey } from '../auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** HKDF purpose of the context MAC key: a change of purpose is a new, unrelated key. */
export const CONTEXT_KEY_PURPOSE = 'request-context-mac-v1';

/**
 * The key that MACs request contexts. The database holds the same 32 bytes in
 * `auth.context_keys`, readable by the owner role only; no database role can compute a MAC.
 */
export class ContextKey {
  /** First 8 bytes of SHA-256 of the key, hex; the database's `auth.context_keys.kid`. */
  readonly kid: string;
  readonly #key: Buffer;

  constructor(raw: Uint8Array) {
    if (raw.length !== 32) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'a context key is 32 bytes');
    }
    this.#key = Buffer.from(raw);
    this.kid = createHash('sha256').update(this.#key).digest().subarray(0, 8).toString('hex');
  }

  /** The context key of an installation, derived from its master key. */
  static fromMasterKey(masterKey: MasterKey): ContextKey {
    return new ContextKey(masterKey.deriveKey(CONTEXT_KEY_PURPOSE));
  }

  /** `<kid>.<hex HMAC-SHA-256>` of the context text: the value of `pgwarden.context_mac`. */
  mac(context: string): string {
    return `${this.kid}.${createHmac('sha256', this.#key).update(context, 'utf8').digest('hex')}`;
  }

  /** The raw key, for registering it in the database (`auth.context_key_add`). */
  exportForRegistration(): Buffer {
    return Buffer.from(this.#key);
  }

  toJSON(): string {
    return this.toString();
  }

  toString(): string {
    return `ContextKey(${this.kid})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** The identity a request runs with, after the role allowlist has been applied. */
export interface ContextIdentity {
  /** PostgreSQL role the transaction runs as (`SET LOCAL ROLE`). */
  role: string;
  /** Subject (`sub`); null for an anonymous request. */
  sub: string | null;
  tenant: string | null;
  /** Application roles (RBAC), from the token. */
  roles: string[];
  aal: string | null;
  /** pgwarden session id (`sid`); when present the database checks the session on every request. */
  sid: string | null;
  /** Issue time (`iat`), seconds; a token older than a change of the user's roles is refused. */
  iat: number | null;
  /** The verified claims, for `auth.claims()`. */
  claims: Record<string, unknown>;
}

/** The two setting values of one transaction: the context text and its MAC. */
export interface SealedContext {
  context: string;
  mac: string;
}

/**
 * Serialises an identity for one backend (`pid`) with an expiry, and MACs it. The text is what
 * `auth._context()` verifies byte for byte before parsing it.
 */
export function sealContext(key: ContextKey, identity: ContextIdentity, pid: number, exp: number): SealedContext {
  const context = JSON.stringify({
    v: 1,
    role: identity.role,
    pid,
    exp,
    sub: identity.sub,
    tenant: identity.tenant,
    roles: identity.roles,
    aal: identity.aal,
    sid: identity.sid,
    iat: identity.iat,
    claims: identity.claims,
  });
  return { context, mac: key.mac(context) };
}
