import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { AuthStore } from './auth-store.js';
import { generateSigningKey, type MasterKey, openPrivateKey, SecretBox, sealPrivateKey } from './crypto/index.js';

/** The key that signs new access tokens. */
export interface ActiveKey {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  privateKey: KeyObject;
}

interface Published {
  loadedAt: number;
  keys: Map<string, { alg: 'EdDSA' | 'ES256'; publicKey: KeyObject; jwk: Record<string, unknown> }>;
}

/**
 * JWT signing keys backed by `auth.signing_keys`: private halves sealed under the master key,
 * public halves published until the tokens they signed have expired. Lookups of an unknown `kid`
 * reload from the database at most once per 5 s cooldown, so a flood of made-up key ids costs
 * no database work.
 *
 * @example
 * const ring = new KeyRing({ store, masterKey, alg: 'EdDSA', keepPublishedSeconds: 960, now: Date.now });
 * const { kid, privateKey } = await ring.active();
 */
export class KeyRing {
  private readonly box: SecretBox;
  private activeKey: ActiveKey | null = null;
  private published: Published | null = null;

  constructor(
    private readonly options: {
      store: AuthStore;
      masterKey: MasterKey;
      alg: 'EdDSA' | 'ES256';
      keepPublishedSeconds: number;
      now: () => number;
      reloadAfterMs?: number;
    },
  ) {
    this.box = new SecretBox(options.masterKey, 'jwt-signing-keys');
  }

  private get reloadAfterMs(): number {
    return this.options.reloadAfterMs ?? 30_000;
  }

  /** The signing key; creates the first one when the database has none. */
  async active(): Promise<ActiveKey> {
    if (this.activeKey && this.published && this.options.now() - this.published.loadedAt < this.reloadAfterMs) {
      return this.activeKey;
    }
    let row = await this.options.store.activeSigningKey();
    if (!row) {
      await this.rotate();
      row = await this.options.store.activeSigningKey();
    }
    if (!row) throw new PgwardenError(ErrorCodes.AUTH_NO_SIGNING_KEY, 'no active JWT signing key');
    if (this.activeKey?.kid !== row.kid) {
      const pkcs8 = openPrivateKey(this.box, row.privateKeySealed, row.kid);
      this.activeKey = {
        kid: row.kid,
        alg: row.alg,
        privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
      };
    }
    await this.reloadPublished();
    return this.activeKey;
  }

  /** Creates a new signing key and retires the current one (kept published for the token lifetime). */
  async rotate(): Promise<string> {
    const key = await generateSigningKey(this.options.alg);
    await this.options.store.addSigningKey({
      kid: key.kid,
      alg: key.alg,
      publicJwk: key.publicJwk,
      privateSealed: sealPrivateKey(this.box, key),
      masterKeyId: this.options.masterKey.keyId,
      keepPublishedSeconds: this.options.keepPublishedSeconds,
    });
    this.activeKey = null;
    this.published = null;
    return key.kid;
  }

  /** The public key for a `kid`, or undefined when it is not (or no longer) published. */
  async publicKey(kid: string): Promise<{ alg: 'EdDSA' | 'ES256'; publicKey: KeyObject } | undefined> {
    const fresh = this.published && this.options.now() - this.published.loadedAt < this.reloadAfterMs;
    if (!fresh) await this.reloadPublished();
    // A key rotated in by another instance: look again, but at most once per cooldown.
    if (!this.published?.keys.has(kid) && this.published && this.options.now() - this.published.loadedAt > 5_000) {
      await this.reloadPublished();
    }
    // A retired key leaves the published set once its window has passed (the reload enforces it).
    return this.published?.keys.get(kid);
  }

  /** The JWKS document: the active key and the retired ones still inside their window. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    const fresh = this.published && this.options.now() - this.published.loadedAt < this.reloadAfterMs;
    if (!fresh) await this.reloadPublished();
    return { keys: [...(this.published?.keys.values() ?? [])].map((k) => k.jwk) };
  }

  private async reloadPublished(): Promise<void> {
    const rows = await this.options.store.publishedSigningKeys();
    const keys: Published['keys'] = new Map();
    for (const r of rows) {
      keys.set(r.kid, {
        alg: r.alg,
        jwk: r.publicJwk,
        publicKey: createPublicKey({ key: r.publicJwk as never, format: 'jwk' }),
      });
    }
    this.published = { loadedAt: this.options.now(), keys };
  }
}
