import type { RequestMeta } from './auth-store.js';

export type { RequestMeta };

/** A fresh access token for a session (after a step-up the refresh token stays the same). */
export interface AccessGrant {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  expiresIn: number;
  sessionId: string;
  userId: string;
  tenant: string;
  aal: 'aal1' | 'aal2';
}

/** What a successful login, refresh or MFA step hands to the client. */
export interface TokenSet extends AccessGrant {
  /** Opaque, single-use; rotate it with `refresh()`. */
  refreshToken: string;
  /** When the session ends at the latest (absolute timeout). */
  sessionExpiresAt: Date;
}

/** Login outcome: tokens, or a challenge to answer with a second factor. */
export type LoginResult =
  ({ kind: 'session' } & TokenSet) | { kind: 'mfa_required'; mfaToken: string; expiresAt: Date };

/** The verified identity behind an access token whose session is still active. */
export interface Principal {
  userId: string;
  sessionId: string;
  tenant: string;
  roles: string[];
  aal: 'aal1' | 'aal2';
  /** The access token's `jti`. */
  tokenId: string;
}
