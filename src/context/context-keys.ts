import type pg from 'pg';
import { configuredMasterKey } from '../auth/auth-server.js';
import type { PgwardenConfig } from '../config/index.js';
import { ContextKey } from './context-seal.js';

/**
 * Stores a context key in `auth.context_keys` (idempotent) and returns its kid. Needs the owner
 * role's rights: the installing connection, never the authenticator.
 *
 * @example
 * await registerContextKey(adminClient, ContextKey.fromMasterKey(masterKey));
 */
export async function registerContextKey(client: pg.ClientBase, key: ContextKey): Promise<string> {
  const { rows } = await client.query<{ kid: string }>('select auth.context_key_add($1) as kid', [
    key.exportForRegistration(),
  ]);
  return rows[0]!.kid;
}

/** Retires every context key but `keep`; contexts MAC'd under the others stop verifying at once. */
export async function retireOtherContextKeys(client: pg.ClientBase, keep: ContextKey): Promise<number> {
  const { rows } = await client.query<{ n: number }>('select auth.context_key_retire_others($1) as n', [keep.kid]);
  return rows[0]!.n;
}

/**
 * The context key of this configuration when its master key is already available (set in the
 * config, or the key file exists); undefined otherwise, so `install` never creates a key file.
 */
export async function configuredContextKey(config: PgwardenConfig, cwd: string): Promise<ContextKey | undefined> {
  const masterKey = await configuredMasterKey(config, cwd);
  return masterKey && ContextKey.fromMasterKey(masterKey);
}
