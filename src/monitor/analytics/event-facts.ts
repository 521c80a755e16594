import { addressBlock, type MonitorEvent } from '../event.js';
import type { HourClock } from './hour-clock.js';
import { HOUR } from './options.js';

/**
 * Event types counted as errors in the error rate.
 *
 * @example
 * errorTypes.has('pg.error'); // true
 */
export const errorTypes: ReadonlySet<string> = new Set([
  'pg.error',
  'pg.auth_failed',
  'auth.login_failed',
  'auth.mfa_failed',
]);
/**
 * Failed authentications: they count as errors but neither teach nor trigger the address and hour
 * reasons. The address of someone guessing a password must still be new when the guess finally
 * succeeds, and failures spread over many accounts are the spray rules' business.
 */
export const authFailureTypes: ReadonlySet<string> = new Set([
  'pg.auth_failed',
  'pg.auth_rejected',
  'auth.login_failed',
  'auth.mfa_failed',
]);
/** Event types whose fields.rows is a row volume. */
export const rowTypes: ReadonlySet<string> = new Set(['pg.rows_read', 'audit.rows_changed']);
/** Event types whose fields.table names a table the user touched. */
export const tableTypes: ReadonlySet<string> = new Set(['audit.rows_changed', 'pg.table_read']);
const loginTypes: ReadonlySet<string> = new Set(['pg.login', 'auth.login_succeeded']);

/** Longest address / table name kept in a profile (keeps a profile's size bounded). */
const maxValueLength = 200;

/** What the detectors and `learn` need from one event, derived once. Reused between events. */
export interface EventFacts {
  time: number;
  /** The local clock hour, `floor(local time / 1 h)`: identifies "this hour" for presence and volume. */
  absHour: number;
  hourOfWeek: number;
  day: number;
  addr: string | undefined;
  block: string | undefined;
  table: string | undefined;
  /** Rows read or changed; 0 when the event carries none. */
  rows: number;
  isError: boolean;
  isAuthFailure: boolean;
  isLogin: boolean;
}

/** A blank EventFacts for `readFacts` to fill. */
export function blankFacts(): EventFacts {
  return {
    time: 0,
    absHour: 0,
    hourOfWeek: 0,
    day: 0,
    addr: undefined,
    block: undefined,
    table: undefined,
    rows: 0,
    isError: false,
    isAuthFailure: false,
    isLogin: false,
  };
}

/** The /24 or /64 of an address; a unix-socket or otherwise non-IP "address" is its own block. */
export function blockFor(addr: string): string {
  return addressBlock(addr) ?? addr;
}

/**
 * Fills `into` from `event` (no allocation beyond what the event's strings need). `block` is left
 * undefined when the event has an address but no block: see `blockFor`.
 *
 * @example
 * const facts = readFacts(event, new HourClock(), blankFacts());
 */
export function readFacts(event: MonitorEvent, clock: HourClock, into: EventFacts): EventFacts {
  const time = event.time;
  into.time = time;
  into.absHour = Math.floor(clock.local(time) / HOUR);
  into.hourOfWeek = clock.hourOfWeek(time);
  into.day = clock.day(time);
  const addr = clean(event.addr);
  into.addr = addr;
  // The block the source gave; otherwise `blockFor` derives it (the caller caches per profile).
  into.block = addr === undefined ? undefined : clean(event.addrBlock);
  const type = event.type;
  into.table = tableTypes.has(type) ? clean(scalarText(event.fields.table)) : undefined;
  into.rows = rowTypes.has(type) ? rowsOf(event.fields.rows) : 0;
  into.isError = errorTypes.has(type);
  into.isAuthFailure = authFailureTypes.has(type);
  into.isLogin = loginTypes.has(type);
  return into;
}

function scalarText(v: string | number | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function clean(v: string | undefined): string | undefined {
  // NUL cannot be stored in jsonb; an empty or oversized value is not worth a profile slot.
  if (v === undefined || v.length === 0 || v.length > maxValueLength || v.includes('\0')) return undefined;
  return v;
}

function rowsOf(v: string | number | boolean | undefined): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : 0;
}
