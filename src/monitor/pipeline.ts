import type { AlertSignal } from './alert-signal.js';
import { addressBlock, type EventContext, type MonitorEvent, type UntimedEvent } from './event.js';

/** The rule engine as the pipeline uses it. */
export interface SignalEngine {
  process(event: MonitorEvent): AlertSignal[];
  flush(now: number): AlertSignal[];
}

/** The behaviour analytics as the pipeline uses it: events it derives (ueba.anomaly) from one event. */
export interface EventAnalytics {
  observe(event: MonitorEvent): readonly UntimedEvent[];
  noteAlert(user: string, severity: AlertSignal['rule']['severity']): void;
}

/**
 * Adds what the monitor knows about an event before the rules see it (`context.*` in a rule): the
 * behaviour analytics (a known address, a usual volume), the approved change windows.
 */
export interface EventEnricher {
  /** The context known for `event`, or undefined. Called once per event, before the rules and the analytics' learning. */
  contextOf(event: MonitorEvent): EventContext | undefined;
}

/** What the pipeline reports as it goes: the daemon feeds these to the logger and the metrics. */
export type PipelineObservation =
  { kind: 'event'; event: MonitorEvent } | { kind: 'signal'; signal: AlertSignal; latencyMs: number };

/** Options of {@link MonitorPipeline}. */
export interface MonitorPipelineOptions {
  engine: SignalEngine;
  analytics?: EventAnalytics;
  /** Run in order on every event a source delivered; later ones win on the same context name. */
  enrichers?: readonly EventEnricher[];
  /** Receives every signal (the alert store in the daemon, stdout in `monitor replay`). */
  onSignals: (signals: AlertSignal[]) => Promise<void>;
  onObservation?: (observation: PipelineObservation) => void;
  clock?: () => number;
}

/**
 * Events in, alert signals out: stamps each event with the monitor's receive time (windows never
 * trust a timestamp the client wrote), lets the behaviour analytics learn from it and add the
 * anomalies it sees, runs the rules, and hands the signals on. Sources call `push` with a batch and
 * move their position on only once it resolved, so a crash repeats a batch rather than losing it.
 *
 * @example
 * const pipeline = new MonitorPipeline({ engine, analytics, onSignals: (s) => alerts.recordAll(s) });
 * await pipeline.push(eventsFromSource);
 * setInterval(() => void pipeline.flush(), 1000);
 */
export class MonitorPipeline {
  readonly #options: MonitorPipelineOptions;
  readonly #clock: () => number;
  #events = 0;
  #signals = 0;
  // Serialises batches from several sources: the engine's windows are not re-entrant.
  #queue: Promise<void> = Promise.resolve();

  constructor(options: MonitorPipelineOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Runs a batch through analytics and rules; resolves once its signals were handed on. */
  push(batch: readonly UntimedEvent[]): Promise<void> {
    const run = this.#queue.then(() => this.#run(batch));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Hands on the 'update' signals of incidents that grew since the last flush. `at` (default now)
   * is the time the engine flushes as of: a time far ahead hands on everything still pending (at
   * shutdown, or at the end of a replay).
   */
  flush(at?: number): Promise<void> {
    const run = this.#queue.then(async () => {
      const now = at ?? this.#clock();
      const signals = this.#options.engine.flush(now);
      await this.#emit(signals);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Events and signals handled so far. */
  stats(): { events: number; signals: number } {
    return { events: this.#events, signals: this.#signals };
  }

  async #run(batch: readonly UntimedEvent[]): Promise<void> {
    const signals: AlertSignal[] = [];
    for (const raw of batch) {
      const event = this.#enrich(stamp(raw, this.#clock()));
      this.#take(event, signals);
      for (const derived of this.#options.analytics?.observe(event) ?? []) {
        this.#take(stamp(derived, event.time), signals);
      }
    }
    await this.#emit(signals);
  }

  #enrich(event: MonitorEvent): MonitorEvent {
    const enrichers = this.#options.enrichers;
    if (!enrichers || enrichers.length === 0) return event;
    let context: EventContext | undefined = event.context;
    for (const enricher of enrichers) {
      const found = enricher.contextOf(event);
      if (found) context = context ? { ...context, ...found } : found;
    }
    return context === event.context ? event : { ...event, context };
  }

  #take(event: MonitorEvent, into: AlertSignal[]): void {
    this.#events += 1;
    this.#options.onObservation?.({ kind: 'event', event });
    for (const signal of this.#options.engine.process(event)) into.push(signal);
  }

  async #emit(signals: AlertSignal[]): Promise<void> {
    if (signals.length === 0) return;
    await this.#options.onSignals(signals);
    const done = this.#clock();
    for (const signal of signals) {
      this.#signals += 1;
      if (signal.kind === 'fire') {
        const user = signal.group.user;
        if (user) this.#options.analytics?.noteAlert(user, signal.rule.severity);
      }
      this.#options.onObservation?.({ kind: 'signal', signal, latencyMs: Math.max(0, done - signal.lastSeen) });
    }
  }
}

/** The event with the monitor's receive time, and its address block filled in. */
function stamp(event: UntimedEvent, now: number): MonitorEvent {
  const time = event.time ?? now;
  const addrBlock = event.addrBlock ?? addressBlock(event.addr);
  return addrBlock === undefined ? { ...event, time } : { ...event, time, addrBlock };
}
