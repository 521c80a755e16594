/**
 * Carries the request layer's refused credentials (`onRejected` of the context middleware) into
 * logs.notification_log as `context.token_rejected` security events, where the monitor's
 * token-forgery rule counts them. Batched and rate-capped: a flood of forged tokens writes at most
 * `maxPerFlush` events per interval plus one `context.token_rejections_dropped` summary, and holds
 * at most `maxPerFlush` events in memory, so an attacker cannot turn requests into unbounded writes.
 */
import { isIP } from 'node:net';
import pg from 'pg';
import type { TokenRejectedEvent } from '../../context/index.js';
import type { ConnectionConfig } from '../../db/index.js';
import { ErrorCodes, PgwardenError, toPgwardenError } from '../../errors/index.js';

/** Options of {@link createTokenRejectionReporter}. */
export interface TokenRejectionReporterOptions {
  /** A login holding security_admin (EXECUTE on monitor.log_request_event), or the owner. */
  connection: ConnectionConfig;
  /** How often buffered rejections are written (default 1 000 ms, 50 to 60 000). */
  flushIntervalMs?: number;
  /** Most events written per flush; more become one summary event (default 100, 1 to 10 000). */
  maxPerFlush?: number;
  /** A flush that could not write (its events are lost, never retried without bound). */
  onError?: (error: PgwardenError) => void;
}

/** Counters of a reporter. */
export interface TokenRejectionReporterStats {
  /** Rejections handed to `report`. */
  reported: number;
  /** `context.token_rejected` events written. */
  written: number;
  /** Rejections over the cap, counted only in a summary event. */
  dropped: number;
  /** Rejections lost because a flush failed. */
  failed: number;
}

/** A running reporter. */
export interface TokenRejectionReporter {
  /** Buffers one rejection; never throws and never waits (safe as `onRejected`). */
  report(event: TokenRejectedEvent): void;
  /** Writes what is buffered now. */
  flush(): Promise<void>;
  stats(): TokenRejectionReporterStats;
  /** Stops the timer, writes what is buffered and closes the connection. */
  close(): Promise<void>;
}

/**
 * Event type of the summary written when a flush interval saw more than `maxPerFlush` rejections:
 * details `dropped`, `interval_ms`, and `reasons` / `addrs` (JSON objects of the 20 most frequent,
 * the rest under `other`).
 *
 * @example
 * await client.query('select details from logs.notification_log where event_type = $1', [TOKEN_REJECTIONS_DROPPED]);
 */
export const TOKEN_REJECTIONS_DROPPED = 'context.token_rejections_dropped';

// Distinct reasons and addresses a summary names; the rest are folded into "other".
const SUMMARY_KEYS = 20;
// Distinct addresses counted while dropping: bounds memory under a flood from many addresses.
const TRACKED_ADDRESSES = 1_000;

type Details = Record<string, string | number>;

/**
 * Starts a reporter writing refused credentials as security events.
 *
 * @example
 * const reporter = createTokenRejectionReporter({ connection: { connectionString: process.env.MONITOR_URL },
 *   flushIntervalMs: 1_000, maxPerFlush: 100 });
 * app.use(expressContext({ contextPool, onRejected: reporter.report }).middleware);
 * // on shutdown:
 * await reporter.close();
 */
export function createTokenRejectionReporter(options: TokenRejectionReporterOptions): TokenRejectionReporter {
  const intervalMs = options.flushIntervalMs ?? 1_000;
  const maxPerFlush = options.maxPerFlush ?? 100;
  if (!Number.isInteger(intervalMs) || intervalMs < 50 || intervalMs > 60_000) {
    throw invalidOption('flushIntervalMs must be a whole number of milliseconds from 50 to 60000');
  }
  if (!Number.isInteger(maxPerFlush) || maxPerFlush < 1 || maxPerFlush > 10_000) {
    throw invalidOption('maxPerFlush must be a whole number from 1 to 10000');
  }
  const pool = new pg.Pool({ application_name: 'pgwarden-token-rejections', ...options.connection, max: 1 });
  pool.on('error', () => undefined);
  const stats: TokenRejectionReporterStats = { reported: 0, written: 0, dropped: 0, failed: 0 };
  let pending: Details[] = [];
  let dropped = newDropCounts();
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const writeBatch = async (rows: Details[], over: DropCounts): Promise<void> => {
    const batch: [string, Details][] = rows.map((d) => ['context.token_rejected', d]);
    if (over.total > 0) batch.push([TOKEN_REJECTIONS_DROPPED, summaryOf(over, intervalMs)]);
    if (batch.length === 0) return;
    try {
      await pool.query(
        `select monitor.log_request_event(x.e ->> 0, 'warning', (x.e -> 1 ->> 'addr')::inet, x.e -> 1)
           from pg_catalog.jsonb_array_elements($1::jsonb) as x (e)`,
        [JSON.stringify(batch)],
      );
      stats.written += rows.length;
    } catch (err) {
      stats.failed += rows.length + over.total;
      const error = new PgwardenError(
        ErrorCodes.MONITOR_SOURCE_FAILED,
        `could not write ${rows.length} token rejections as security events`,
        {
          hint: 'the reporter login needs security_admin (EXECUTE on monitor.log_request_event) and a reachable database',
          cause: toPgwardenError(err),
        },
      );
      try {
        options.onError?.(error);
      } catch {
        // A failing error hook must not stop later flushes.
      }
    }
  };

  const flush = (): Promise<void> => {
    // Flushes run one after another: the next takes what arrived meanwhile.
    running = running.then(() => {
      const rows = pending;
      const over = dropped;
      pending = [];
      dropped = newDropCounts();
      return writeBatch(rows, over);
    });
    return running;
  };

  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();

  return {
    report(event: TokenRejectedEvent): void {
      stats.reported += 1;
      if (closed) {
        stats.dropped += 1;
        return;
      }
      try {
        const details = detailsOf(event);
        if (pending.length < maxPerFlush) pending.push(details);
        else {
          stats.dropped += 1;
          countDropped(dropped, details);
        }
      } catch {
        // A malformed event is not worth a failed request.
        stats.dropped += 1;
      }
    },
    flush,
    stats: () => ({ ...stats }),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await flush();
      await pool.end().catch(() => undefined);
    },
  };
}

function invalidOption(message: string): PgwardenError {
  return new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, message, {
    hint: 'pass flushIntervalMs (50 to 60000 ms) and maxPerFlush (1 to 10000), or leave them out for the defaults',
  });
}

interface DropCounts {
  total: number;
  reasons: Map<string, number>;
  addrs: Map<string, number>;
}

const newDropCounts = (): DropCounts => ({ total: 0, reasons: new Map(), addrs: new Map() });

function countDropped(counts: DropCounts, details: Details): void {
  counts.total += 1;
  const reason = String(details.reason);
  counts.reasons.set(reason, (counts.reasons.get(reason) ?? 0) + 1);
  const addr = typeof details.addr === 'string' ? details.addr : 'unknown';
  if (counts.addrs.has(addr) || counts.addrs.size < TRACKED_ADDRESSES) {
    counts.addrs.set(addr, (counts.addrs.get(addr) ?? 0) + 1);
  } else counts.addrs.set('other', (counts.addrs.get('other') ?? 0) + 1);
}

/** The most frequent keys of `counts`, the rest summed under "other". */
function top(counts: Map<string, number>): string {
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const kept = Object.fromEntries(sorted.slice(0, SUMMARY_KEYS));
  const rest = sorted.slice(SUMMARY_KEYS).reduce((n, [, c]) => n + c, 0);
  if (rest > 0) kept.other = (kept.other ?? 0) + rest;
  return JSON.stringify(kept);
}

function summaryOf(counts: DropCounts, intervalMs: number): Details {
  return {
    dropped: counts.total,
    interval_ms: intervalMs,
    reasons: top(counts.reasons),
    addrs: top(counts.addrs),
  };
}

const clip = (value: unknown, pattern: RegExp, fallback: string): string =>
  typeof value === 'string' && pattern.test(value) ? value : fallback;

/** A JWT, or a long opaque run that may be a credential someone put in a path. */
const CREDENTIAL_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?|[A-Za-z0-9_~+=-]{32,}/g;

/** The path without anything credential-like, clipped. */
function safePath(path: unknown): string {
  if (typeof path !== 'string') return '/';
  return path.slice(0, 512).replace(CREDENTIAL_LIKE, '[redacted]').slice(0, 200);
}

/** The client address as an IP (IPv4-mapped IPv6 unwrapped), or undefined when it is none. */
function addressOf(client: unknown): string | undefined {
  if (typeof client !== 'string') return undefined;
  const bare = client.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return isIP(bare) === 0 ? undefined : bare.toLowerCase();
}

/**
 * What is written for one rejection. Only the fixed-vocabulary fields of the event are copied:
 * the event never holds the token, and nothing here is free text from the client except the
 * path, which is clipped and loses anything credential-like.
 *
 * The end user's address goes into `details.addr` and, through monitor.log_request_event(), into
 * the event's source_addr, which the monitor reads as the event's address (client_addr stays the
 * reporter's own connection).
 */
function detailsOf(event: TokenRejectedEvent): Details {
  const details: Details = {
    reason: clip(event.reason, /^[A-Za-z0-9_.:-]{1,64}$/, 'other'),
    code: clip(event.code, /^[A-Z0-9_]{1,16}$/, 'unknown'),
    status: Number.isInteger(event.status) ? event.status : 0,
    method: clip(event.method, /^[A-Z]{1,16}$/, 'OTHER'),
    path: safePath(event.path),
  };
  const addr = addressOf(event.client);
  if (addr !== undefined) details.addr = addr;
  return details;
}
