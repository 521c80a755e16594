/**
 * The monitor's heartbeat: every `intervalMs` it stamps its row of monitor.heartbeats with the
 * database's clock, on a connection of its own (so a stuck source connection does not stop it,
 * and a killed heartbeat connection is replaced on the next beat). The watchdog, a separate
 * process, reads the age of that stamp: a monitor that died, hangs, or lost the database stops
 * beating and is noticed (M-13). A stopped heartbeat (close()) leaves its row, so a monitor shut
 * down on purpose still reads as stale to the watchdog: nobody is watching then either.
 *
 * A beating timer proves the process lives, not that it works: a wedged source or a blocked
 * pipeline beats on. So each beat also carries the monitor's progress (`details.progress`): the
 * events handled, and per source its state and read position with the time that position last
 * moved. The watchdog compares that position with the events waiting in the database.
 */
import type pg from 'pg';
import { timedQuery } from './sources/db-session.js';
import type { PrimaryConnectionOptions } from './sources/connect-primary.js';
import { PollingLoop } from './sources/polling-loop.js';
import type { SourceStateListener } from './sources/source-state.js';

/** What the monitor knows of its own progress, asked for at each beat (see {@link HeartbeatOptions.progress}). */
export interface MonitorProgress {
  /** Events the pipeline handled since the monitor started. */
  events: number;
  /** Each source's last state as the monitor saw it ('connected', 'disconnected', 'unavailable' …). */
  states?: Readonly<Record<string, string>>;
  /** Each id-reading source's position: the highest id it handled (undefined: not known yet). */
  positions?: Readonly<Record<string, number | undefined>>;
  /** Each source's lag in seconds (event time to reading), where the monitor measures it. */
  lags?: Readonly<Record<string, number | undefined>>;
}

/** One source in a beat's progress. */
export interface SourceProgressRecord {
  state?: string;
  /** True while the source reads (connected, reconnected, available). */
  up?: boolean;
  position?: number;
  /** When `position` last moved, or the heartbeat's start (the monitor's clock, ms). */
  positionAt?: number;
  lagSeconds?: number;
}

/**
 * `details.progress` of a beat. Times are the monitor's clock (ms); `at` is that clock at the
 * beat, so a reader computes "how long ago" without trusting the two hosts' clocks to agree.
 */
export interface ProgressRecord {
  at: number;
  events: number;
  /** When the events count last grew (≈ when the pipeline last finished a batch), or the heartbeat's start. */
  eventsAt: number;
  sources: Record<string, SourceProgressRecord>;
}

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
  /**
   * The monitor's progress, stored as `details.progress` ({@link ProgressRecord}) so the watchdog
   * can tell a monitor that beats but is stuck from one that has nothing to do.
   */
  progress?: () => MonitorProgress;
  /** Connection lost and recovered, reported once each ('heartbeat' as the source). */
  onState?: SourceStateListener;
  /** After each written beat, with the monitor's clock (ms): e.g. a last-beat gauge. */
  onBeat?: (at: number) => void;
  /** A beat failed (once per distinct failure, like onState's 'disconnected'); it is retried next interval. */
  onError?: (error: unknown) => void;
  /** The monitor's clock (default Date.now), for onBeat and the progress times. */
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

const UP_STATES: ReadonlySet<string> = new Set(['connected', 'reconnected', 'available', 'running']);

/**
 * Turns successive {@link MonitorProgress} snapshots into {@link ProgressRecord}s, remembering
 * when the events count and each position last changed.
 *
 * @example
 * const track = progressTracker(Date.now);
 * track({ events: 3, positions: { 'security-events': 41 } }); // { at, events: 3, eventsAt, sources: { … } }
 */
export function progressTracker(clock: () => number): (progress: MonitorProgress) => ProgressRecord {
  const started = clock();
  let events: { count: number; at: number } | undefined;
  const moved = new Map<string, { position: number; at: number }>();
  return (progress) => {
    const now = clock();
    if (events === undefined) events = { count: progress.events, at: started };
    else if (progress.events !== events.count) events = { count: progress.events, at: now };
    const names = new Set([
      ...Object.keys(progress.states ?? {}),
      ...Object.keys(progress.positions ?? {}),
      ...Object.keys(progress.lags ?? {}),
    ]);
    const sources: Record<string, SourceProgressRecord> = {};
    for (const name of names) {
      const record: SourceProgressRecord = {};
      const state = progress.states?.[name];
      if (state !== undefined) Object.assign(record, { state, up: UP_STATES.has(state) });
      const position = progress.positions?.[name];
      if (typeof position === 'number' && Number.isFinite(position)) {
        const last = moved.get(name);
        const at = last === undefined ? started : last.position === position ? last.at : now;
        moved.set(name, { position, at });
        Object.assign(record, { position, positionAt: at });
      }
      const lag = progress.lags?.[name];
      if (typeof lag === 'number' && Number.isFinite(lag)) record.lagSeconds = lag;
      sources[name] = record;
    }
    return { at: now, events: progress.events, eventsAt: events.at, sources };
  };
}

/**
 * Starts beating at once and then every `intervalMs`.
 *
 * @example
 * const heartbeat = startHeartbeat({ connection, instance: os.hostname(), details: () => ({ version }),
 *   progress: () => ({ events: pipeline.stats().events, positions: { 'security-events': source.cursor?.last } }) });
 * // … on shutdown:
 * await heartbeat.close();
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const intervalMs = options.intervalMs ?? 5_000;
  const clock = options.clock ?? Date.now;
  // A beat that takes longer than an interval is as good as none; drop the connection then.
  const timeoutMs = Math.max(intervalMs, 2_000);
  const track = progressTracker(clock);
  let beats = 0;
  const beat = async (client: pg.Client): Promise<void> => {
    let details: Record<string, unknown> = {};
    try {
      details = { ...(options.details?.() ?? {}) };
    } catch {
      // The beat itself matters more than its decoration.
    }
    try {
      if (options.progress) details.progress = track(options.progress());
    } catch {
      // As above: a beat without progress still proves the process lives.
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
    options.onBeat?.(clock());
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
