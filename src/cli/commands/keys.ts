import pg from 'pg';
import { createAuthService, loadMasterKey } from '../../auth/index.js';
import { ContextKey } from '../../context/context-seal.js';
import { registerContextKey, retireOtherContextKeys } from '../../context/context-keys.js';
import { withClient } from '../../db/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { printJson } from '../output.js';

/**
 * `pgwarden keys rotate-jwt`: creates a new JWT signing key and retires the current one, which
 * stays in the JWKS until every token it signed has expired (access-token TTL + 60 s).
 */
export async function rotateJwtCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, async (db) => {
    const pool = new pg.Pool({ ...db.connection, max: 2, application_name: 'pgwarden-keys' });
    pool.on('error', () => undefined);
    try {
      const auth = await createAuthService(config, pool, ctx.cwd);
      const before = (await auth.jwks()).keys.map((k) => String(k.kid));
      const kid = await auth.rotateSigningKey();
      const published = (await auth.jwks()).keys.map((k) => String(k.kid));
      if (ctx.output.json) printJson(ctx.output, { ok: true, kid, retired: before, published });
      else {
        ctx.output.out(`New signing key ${kid} (${config.auth.signingAlg}) is active.`);
        for (const old of before) {
          ctx.output.out(`  ${old} retired; stays in the JWKS for ${config.auth.accessTokenTtlSeconds + 60} s`);
        }
      }
      return 0;
    } finally {
      await pool.end();
    }
  });
}

export interface ContextKeyFlags extends GlobalFlags {
  retireOthers?: boolean;
}

/**
 * `pgwarden keys context [--retire-others]`: stores the request-context MAC key (derived from
 * the master key) in the database, so contexts made by this configuration verify there. With
 * `--retire-others`, contexts under any other key stop verifying at once (after a master-key
 * rotation).
 */
export async function contextKeyCommand(ctx: CliContext, flags: ContextKeyFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const key = ContextKey.fromMasterKey(await loadMasterKey(config, ctx.cwd));
  return withDatabase(ctx, config, (db) =>
    withClient(db.connection, async (client) => {
      const kid = await registerContextKey(client, key);
      const retired = flags.retireOthers ? await retireOtherContextKeys(client, key) : 0;
      if (ctx.output.json) printJson(ctx.output, { ok: true, kid, retired });
      else {
        ctx.output.out(`Context key ${kid} is registered.`);
        if (flags.retireOthers) ctx.output.out(`  ${retired} other key(s) retired.`);
      }
      return 0;
    }),
  );
}
