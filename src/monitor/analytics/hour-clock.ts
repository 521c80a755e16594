import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { DAY, HOUR } from './options.js';

const QUARTER = 15 * 60_000;
const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

/**
 * Maps the monitor's clock (ms since the epoch) to the hour of the week (0 = Monday 00:00) and to
 * a day number, in UTC or in one configured IANA time zone. An office's working hours are a local
 * pattern: in UTC a daylight-saving change would shift the whole histogram by an hour twice a
 * year. Zone offsets are resolved through Intl once per quarter hour (offsets are multiples of
 * 15 min) and cached, so the hot path stays arithmetic.
 *
 * @example
 * const clock = new HourClock('Europe/Berlin');
 * clock.hourOfWeek(Date.UTC(2024, 0, 1, 8)); // 9: Monday 09:00 in Berlin
 */
export class HourClock {
  readonly zone: string;
  private readonly format: Intl.DateTimeFormat | undefined;
  private cachedSlot = Number.NaN;
  private cachedOffset = 0;

  constructor(timeZone?: string) {
    if (timeZone === undefined || /^(utc|etc\/utc|z)$/i.test(timeZone)) {
      this.zone = 'UTC';
      this.format = undefined;
      return;
    }
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
      });
    } catch (err) {
      throw new PgwardenError(ErrorCodes.CONFIG_INVALID, `unknown time zone for behaviour analytics: ${timeZone}`, {
        hint: 'use an IANA zone name such as Europe/Berlin, or leave it unset for UTC',
        cause: err,
      });
    }
    this.zone = timeZone;
  }

  /** Local wall-clock time as ms since the epoch (UTC arithmetic applies to it). */
  local(time: number): number {
    if (!this.format) return time;
    const slot = Math.floor(time / QUARTER);
    if (slot !== this.cachedSlot) {
      this.cachedOffset = this.offsetAt(slot * QUARTER);
      this.cachedSlot = slot;
    }
    return time + this.cachedOffset;
  }

  /** 0–167, Monday 00:00–01:00 being 0. */
  hourOfWeek(time: number): number {
    const local = this.local(time);
    // 1970-01-01 was a Thursday: day 0 has weekday index 3 when Monday is 0.
    const day = Math.floor(local / DAY);
    const weekday = (((day + 3) % 7) + 7) % 7;
    return weekday * 24 + Math.floor((local - day * DAY) / HOUR);
  }

  /** The local calendar day, as a day count since the epoch. */
  day(time: number): number {
    return Math.floor(this.local(time) / DAY);
  }

  /** `Sun 03:00 UTC` for an hour of the week. */
  label(hourOfWeek: number): string {
    const hour = hourOfWeek % 24;
    return `${dayNames[Math.floor(hourOfWeek / 24)] ?? '?'} ${String(hour).padStart(2, '0')}:00 ${this.zone}`;
  }

  private offsetAt(time: number): number {
    const parts = this.format!.formatToParts(time);
    const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
    return wall - Math.floor(time / 60_000) * 60_000;
  }
}
