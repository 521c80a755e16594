import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { withClient } from '../../db/index.js';
import { getStatus } from '../../install/index.js';
import { createLogger } from '../../logger/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint } from '../output.js';

/** File holding the pid of the running `pgwarden up`, so `pgwarden down` can stop it cleanly. */
export const upPidFile = (cwd: string, dir: string): string => join(resolve(cwd, dir), 'up.pid');

/**
 * `pgwarden up`: starts the embedded PostgreSQL (unless a database is configured) and pgwarden's
 * services in the foreground until Ctrl-C, SIGTERM or `pgwarden down`, then stops them cleanly.
 */
export async function upCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const { output } = ctx;
  // Structured events (JSON lines, secrets redacted) go to stderr; the human summary to stdout.
  const log = createLogger({ level: config.log.level, name: 'pgwarden-up' });
  return withDatabase(ctx, config, async (db) => {
    const pidFile = upPidFile(ctx.cwd, config.embedded.dir);
    if (db.cluster) await writeFile(pidFile, `${process.pid}\n`);
    try {
      const status = await withClient(db.connection, (c) =>
        getStatus(c, { rolePrefix: config.install.rolePrefix, tier: config.install.tier }),
      );
      const ready = {
        kind: 'up-ready',
        database: db.description,
        embedded: Boolean(db.cluster),
        installed: status.installed ? status.tier : null,
        server: status.server.version,
      };
      log.info(ready, 'pgwarden up is ready');
      if (output.json) output.out(JSON.stringify(ready));
      else {
        output.out(`${paint(output, 'green', 'up')}: ${db.description} (PostgreSQL ${status.server.version})`);
        if (db.cluster) {
          const port = (db.connection as { port: number }).port;
          output.out(
            `  psql:  PGPASSFILE=${join(config.embedded.dir, 'pgpass')} psql -h 127.0.0.1 -p ${port} -U postgres ${config.database.name}`,
          );
        }
        output.out(
          `  pgwarden: ${status.installed ? `tier ${status.tier} installed` : 'not installed yet — run `pgwarden install` in another terminal'}`,
        );
        output.out('  Ctrl-C or `pgwarden down` stops it.');
      }
      // The server runs in its own process and signal listeners do not keep Node's event loop
      // alive: without a ref'd timer Node would exit (code 13) right after printing "ready".
      const keepAlive = setInterval(() => undefined, 1 << 30);
      try {
        await new Promise<void>((done) => {
          if (ctx.signal.aborted) return done();
          ctx.signal.addEventListener('abort', () => done(), { once: true });
        });
      } finally {
        clearInterval(keepAlive);
      }
      log.info({ kind: 'up-stopping', reason: 'signal' }, 'pgwarden up is stopping');
      if (!output.json) output.out('stopping…');
      else output.out(JSON.stringify({ kind: 'up-stopping' }));
      return 0;
    } finally {
      if (db.cluster) await rm(pidFile, { force: true });
    }
  });
}

/** Reads the pid of a running `pgwarden up`, if its file names a live process. */
export async function runningUpPid(cwd: string, dir: string): Promise<number | undefined> {
  const text = await readFile(upPidFile(cwd, dir), 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
