import { type AuthServer, startAuthServer } from '../../auth/index.js';
import type { PgwardenConfig } from '../../config/index.js';
import type { DatabaseHandle } from '../../db/index.js';
import { createLogger } from '../../logger/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint } from '../output.js';

export interface ServeFlags extends GlobalFlags {
  port?: string;
  host?: string;
}

/** Starts the auth API on an open database, logging its events as JSON lines on stderr. */
export async function startAuthFor(
  ctx: CliContext,
  config: PgwardenConfig,
  db: DatabaseHandle,
  log: ReturnType<typeof createLogger>,
): Promise<AuthServer> {
  return startAuthServer({
    config,
    connection: db.connection,
    cwd: ctx.cwd,
    onEvent: (event) => {
      if (event.kind === 'http-error')
        log.error({ kind: event.kind, code: event.code, requestId: event.requestId }, 'request failed');
      else if (event.kind === 'http-request') log.debug(event, 'request');
      else log.info(event, 'auth housekeeping');
    },
  });
}

/** Waits for Ctrl-C / SIGTERM (the context's abort signal). */
export async function untilStopped(ctx: CliContext): Promise<void> {
  // Signal listeners do not keep Node's event loop alive; a ref'd timer does.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) return done();
      ctx.signal.addEventListener('abort', () => done(), { once: true });
    });
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * `pgwarden serve auth [--port n] [--host h]`: the auth HTTP API in the foreground until Ctrl-C
 * or SIGTERM, then a graceful stop (in-flight requests finish).
 */
export async function serveAuthCommand(ctx: CliContext, flags: ServeFlags): Promise<number> {
  const config = await configFor(ctx, flags, {
    auth: { port: flags.port, host: flags.host },
  });
  const log = createLogger({ level: config.log.level, name: 'pgwarden-auth' });
  return withDatabase(ctx, config, async (db) => {
    const server = await startAuthFor(ctx, config, db, log);
    try {
      const ready = { kind: 'auth-ready', url: server.url, database: db.description };
      log.info(ready, 'auth API is ready');
      if (ctx.output.json) ctx.output.out(JSON.stringify(ready));
      else {
        ctx.output.out(`${paint(ctx.output, 'green', 'auth')}: ${server.url} → ${db.description}`);
        ctx.output.out(`  JWKS: ${server.url}/.well-known/jwks.json   health: /live /ready /metrics`);
        ctx.output.out('  Ctrl-C stops it.');
      }
      await untilStopped(ctx);
      return 0;
    } finally {
      await server.close();
    }
  });
}
