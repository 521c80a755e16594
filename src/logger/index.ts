import { pino } from 'pino';

/** Paths pino replaces with `[redacted]` wherever they appear in a log record. */
export const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'key',
  '*.key',
  'connectionString',
  '*.connectionString',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

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
