import { newToken } from './csrf.js';

/** The application roles that open the dashboard: security_admin works alerts, auditor only reads. */
export type DashboardRole = 'security_admin' | 'auditor';

/** A password that was right, waiting for the second factor. */
export interface PendingMfa {
  kind: 'mfa';
  mfaToken: string;
}

/** A logged-in dashboard user: the AuthService tokens stay here, never in the browser. */
export interface ActiveLogin {
  kind: 'active';
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (the dashboard clock, ms): refreshed shortly before. */
  accessExpiresAt: number;
  userId: string;
  email: string;
  role: DashboardRole;
  /** When `role` was last read from the database (the dashboard clock, ms). */
  roleCheckedAt: number;
}

/** One dashboard session, keyed by the random id its cookie holds. */
export interface DashboardSession {
  id: string;
  /** The synchronizer CSRF token every POST must echo in `X-CSRF-Token`. */
  csrfToken: string;
  expiresAt: number;
  state: PendingMfa | ActiveLogin;
  /** A refresh in progress: concurrent requests wait for it rather than presenting the old refresh token twice. */
  refreshing?: Promise<void>;
}

/** Settings of a {@link DashboardSessionStore}. */
export interface DashboardSessionStoreOptions {
  clock: () => number;
  /**
   * Sessions kept at most; past it the oldest is forgotten, so memory stays bounded. Its
   * AuthService session then simply runs out (its refresh token is gone with it). The dashboard
   * keeps logins waiting for a second factor in a store of their own, so a flood of half-done
   * logins can only push out other half-done logins, never a signed-in analyst.
   */
  maxSessions: number;
}

/**
 * The dashboard's sessions, in memory: the cookie carries only a random id, the access and
 * refresh tokens stay on the server (a stolen page or a script cannot read them, and a
 * restart simply asks everyone to log in again).
 *
 * @example
 * const store = new DashboardSessionStore({ clock: Date.now, maxSessions: 1000 });
 * const s = store.create({ kind: 'mfa', mfaToken }, 300_000);
 * store.get(s.id)?.csrfToken;
 */
export class DashboardSessionStore {
  readonly #sessions = new Map<string, DashboardSession>();
  readonly #options: DashboardSessionStoreOptions;

  constructor(options: DashboardSessionStoreOptions) {
    this.#options = options;
  }

  /**
   * Opens a session with a fresh id and CSRF token, living `ttlMs`.
   *
   * @example
   * const s = store.create(login, 8 * 3600_000);
   */
  create(state: PendingMfa | ActiveLogin, ttlMs: number): DashboardSession {
    const session: DashboardSession = {
      id: newToken(),
      csrfToken: newToken(),
      expiresAt: this.#options.clock() + ttlMs,
      state,
    };
    this.#sessions.set(session.id, session);
    while (this.#sessions.size > this.#options.maxSessions) {
      const oldest = this.#sessions.values().next();
      if (oldest.done) break;
      this.#drop(oldest.value);
    }
    return session;
  }

  /**
   * The live session with this id; an expired one is dropped and gives undefined.
   *
   * @example
   * const s = store.get(cookieValue);
   */
  get(id: string | undefined): DashboardSession | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.#options.clock()) {
      this.#drop(session);
      return undefined;
    }
    return session;
  }

  /**
   * Forgets a session (logout, ended or refused by the AuthService).
   *
   * @example
   * store.delete(session.id);
   */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  /**
   * Sessions held now.
   *
   * @example
   * store.size; // 3
   */
  get size(): number {
    return this.#sessions.size;
  }

  #drop(session: DashboardSession): void {
    this.#sessions.delete(session.id);
  }
}

/** How the dashboard cookie is written. */
export interface CookieSettings {
  name: string;
  /** The dashboard's base path: the cookie goes nowhere else. */
  path: string;
  secure: boolean;
}

/**
 * The cookie name: `__Host-` prefixed when Secure at the root path, so no subdomain or plain-HTTP
 * page can plant or shadow it.
 *
 * @example
 * cookieName(true, '/'); // '__Host-pgwarden_dashboard'
 */
export function cookieName(secure: boolean, basePath: string): string {
  return secure && basePath === '/' ? '__Host-pgwarden_dashboard' : 'pgwarden_dashboard';
}

/**
 * `Set-Cookie` for the session id: HttpOnly, SameSite=Strict, Secure when asked, scoped to the
 * base path; `maxAgeSeconds` 0 clears it.
 *
 * @example
 * headers['Set-Cookie'] = sessionCookie(settings, session.id, 28800);
 */
export function sessionCookie(settings: CookieSettings, value: string, maxAgeSeconds: number): string {
  const parts = [
    `${settings.name}=${value}`,
    `Path=${settings.path}`,
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (settings.secure) parts.push('Secure');
  return parts.join('; ');
}

/**
 * The value of one cookie in a `Cookie` header (the first, when repeated), or undefined.
 *
 * @example
 * readCookie('a=1; pgwarden_dashboard=xyz', 'pgwarden_dashboard'); // 'xyz'
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
