/**
 * The monitor's heartbeat: every `intervalMs` it stamps its row of monitor.heartbeats with the
 * database's clock, on a connection of its own (so a stuck source connection does not stop it,
 * and a killed heartbeat connection is replaced on the next beat). The watchdog, a separate
 * process, reads the age of that stamp: a monitor that died, hangs, or lost the database stops
 * beating and is noticed (M-13). A stopped heartbeat (close()) leaves its row, so a monitor shut
 * down on purpose still reads as stale to the watchdog: nobody is watching then either.
 */
import type pg from 'pg';
import { timedQuery } from './sources/db-session.js';
import type { PrimaryConnectionOptions } from './sources/connect-primary.js';
import { PollingLoop } from './sources/polling-loop.js';
import type { SourceStateListener } from './sources/source-state.js';

/** Options of {@link startHeartbeat}. */
export interface HeartbeatOptions {
  /** The database holding monitor.heartbeats (its primary: beats are writes). */
  connection: PrimaryConnectionOptions;
  /** This monitor's name (1 to 200 characters), e.g. the host name. */
  instance: string;
  /** Beat interval (default 5 000 ms). */
  intervalMs?: number;
  /** Facts stored with each beat (version, sources' status …); must be a JSON object without secrets. */
  details?: () => object;
  /** Connection lost and recovered, reported once each ('heartbeat' as the source). */
  onState?: SourceStateListener;
  /** After each written beat, with the monitor's clock (ms): e.g. a last-beat gauge. */
  onBeat?: (at: number) => void;
  /** A beat failed (once per distinct failure, like onState's 'disconnected'); it is retried next interval. */
  onError?: (error: unknown) => void;
  /** The monitor's clock (default Date.now), for onBeat. */
  clock?: () => number;
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Beats written so far by this heartbeat. */
  readonly beats: number;
  /** Beats now and waits for it (a failed beat is reported through onState, not thrown). */
  beatNow(): Promise<void>;
  /** Stops beating (after the beat in progress) and closes the connection. */
  close(): Promise<void>;
}

/**
 * Starts beating at once and then every `intervalMs`.
 *
 * @example
 * const heartbeat = startHeartbeat({ connection, instance: os.hostname(), details: () => ({ version }) });
 * // … on shutdown:
 * await heartbeat.close();
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const intervalMs = options.intervalMs ?? 5_000;
  // A beat that takes longer than an interval is as good as none; drop the connection then.
  const timeoutMs = Math.max(intervalMs, 2_000);
  let beats = 0;
  const beat = async (client: pg.Client): Promise<void> => {
    let details: object = {};
    try {
      details = options.details?.() ?? {};
    } catch {
      // The beat itself matters more than its decoration.
    }
    await timedQuery(
      client,
      `insert into monitor.heartbeats as h (instance, started_at, beat_at, details)
       values ($1, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp(), $2::jsonb)
       on conflict (instance) do update set beat_at = excluded.beat_at, details = excluded.details,
         started_at = case when $3 then excluded.started_at else h.started_at end`,
      [options.instance, JSON.stringify(details), beats === 0],
      timeoutMs,
    );
    beats++;
    options.onBeat?.((options.clock ?? Date.now)());
  };
  const loop = new PollingLoop({
    source: 'heartbeat',
    connection: { connectTimeoutMs: timeoutMs, ...options.connection },
    applicationName: 'pgwarden-heartbeat',
    intervalMs,
    onState: (s) => {
      if (s.kind === 'disconnected') options.onError?.(s.error);
      options.onState?.(s);
    },
    pass: beat,
  });
  void loop.start();
  return {
    get beats() {
      return beats;
    },
    beatNow: () => loop.runNow(),
    close: () => loop.close(),
  };
}
