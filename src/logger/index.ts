import { pino } from 'pino';

const secretKeys = ['password', 'token', 'secret', 'key', 'connectionString', 'authorization', 'cookie'];

/**
 * Paths pino replaces with `[redacted]`: every secret-looking key at the top level and up to three
 * levels down (`password`, `*.password`, `*.*.password`, `*.*.*.password`), so a secret nested
 * in an error or a config object does not reach the log either.
 */
export const redactPaths = secretKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);

export type Logger = pino.Logger;

/**
 * pgwarden's structured logger: JSON lines (pino), secrets redacted by key.
 *
 * @example
 * const log = createLogger({ level: 'info' });
 * log.info({ kind: 'cluster-started', port }, 'embedded PostgreSQL started');
 */
export function createLogger(options: { level: string; destination?: pino.DestinationStream; name?: string }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'pgwarden',
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination(2),
  );
}
