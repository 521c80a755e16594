/**
 * The watchdog's memory between checks and between runs: the outage it reported and the notices
 * not yet accepted by a sink. Kept in a small JSON file so that `--once` from cron alerts on the
 * way down and up only (not at every run), a restarted watchdog does not page again for an
 * outage it already reported, and an unsent notice survives until it is delivered or superseded.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AlertPayload } from '../alerts/index.js';
import type { OutageRecord, WatchdogAction } from './payload.js';

/** A notice waiting for one sink. */
export interface PendingNotice {
  sink: string;
  action: WatchdogAction;
  /** The outage it is about. */
  outage: string;
  /** The receiver's dedupe key: the same on every attempt. */
  key: string;
  payload: AlertPayload;
  /** Attempts made so far (all runs). */
  attempts: number;
  /** Not before (ms). */
  nextAt: number;
  /** The last failure's message (the sink's own, secrets masked). */
  lastError?: string;
}

/** What the watchdog remembers. */
export interface WatchdogState {
  outage?: OutageRecord;
  pending: PendingNotice[];
}

/** Where the watchdog keeps its state. */
export interface WatchdogStateStore {
  /** The saved state, or undefined when there is none (or it is unreadable: the watchdog starts afresh). */
  load(): Promise<WatchdogState | undefined>;
  save(state: WatchdogState): Promise<void>;
}

/**
 * State kept in memory only (one process; the default of the API).
 *
 * @example
 * const store = memoryStateStore();
 */
export function memoryStateStore(): WatchdogStateStore {
  let saved: string | undefined;
  return {
    load: async () => (saved === undefined ? undefined : (JSON.parse(saved) as WatchdogState)),
    save: async (state) => {
      saved = JSON.stringify(state);
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function validState(value: unknown): value is WatchdogState {
  if (!isObject(value) || !Array.isArray(value.pending)) return false;
  const outage = value.outage;
  if (outage !== undefined && !(isObject(outage) && typeof outage.id === 'string' && typeof outage.since === 'number'))
    return false;
  return value.pending.every(
    (p: unknown) =>
      isObject(p) &&
      typeof p.sink === 'string' &&
      typeof p.key === 'string' &&
      typeof p.attempts === 'number' &&
      typeof p.nextAt === 'number' &&
      isObject(p.payload),
  );
}

/**
 * State in a JSON file (created with mode 0600, replaced atomically by rename, so a crash mid-write
 * leaves the previous state).
 *
 * @example
 * const store = fileStateStore('/var/lib/pgwarden/watchdog-db1.json');
 * await store.save({ pending: [] });
 */
export function fileStateStore(path: string): WatchdogStateStore {
  let writes: Promise<void> = Promise.resolve();
  return {
    load: async () => {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        return undefined;
      }
      try {
        const value: unknown = JSON.parse(text);
        return validState(value) ? value : undefined;
      } catch {
        return undefined;
      }
    },
    // Serialised: two saves in flight must not rename over each other out of order.
    save: (state) => {
      const text = `${JSON.stringify(state)}\n`;
      const run = writes.then(async () => {
        await mkdir(dirname(path), { recursive: true });
        const temp = `${path}.${process.pid}.tmp`;
        await writeFile(temp, text, { mode: 0o600 });
        await rename(temp, path);
      });
      writes = run.catch(() => undefined);
      return run;
    },
  };
}
