/**
 * Sends the watchdog's alerts without losing or repeating them. One notice on the way down, one
 * on recovery, and a reminder at most every `remindEveryMs` while the outage lasts, never one per
 * check. Each sink has its own queue: a failed send is retried with backoff (the receiver dedupes
 * by the notice's key) while the other sinks go on, and a notice stays until it is delivered,
 * refused for good, or superseded (a recovery replaces a trigger still unsent). The state lives in
 * a {@link WatchdogStateStore}, so it outlasts the process.
 */
import { toPgwardenError } from '../../errors/index.js';
import type { NoticeOutcome, WatchdogNotifyEvent } from './notify-events.js';
import { backoffDelay, type BackoffPolicy, type Sink, SinkFailedError } from '../sinks/index.js';
import { type OutageRecord, type WatchdogAction, watchdogPayload } from './payload.js';
import { memoryStateStore, type PendingNotice, type WatchdogState, type WatchdogStateStore } from './state-store.js';
import type { RecoveredInfo, StaleInfo } from './verdict.js';

/** Options of {@link WatchdogNotifier.open}. */
export interface WatchdogNotifierOptions {
  sinks: readonly Sink[];
  /** Where the outage and unsent notices are kept (default: in memory). */
  store?: WatchdogStateStore;
  /** A reminder while an outage lasts, at most this often (default 30 min; 0: never). */
  remindEveryMs?: number;
  /** Spacing of retries (default 2 s doubling up to 5 min, 20 % jitter). */
  backoff?: BackoffPolicy;
  /** How often the running notifier looks for reminders to send (default 1 000 ms). */
  tickMs?: number;
  clock?: () => number;
  /** Jitter's randomness (default Math.random). */
  random?: () => number;
  onEvent?: (event: WatchdogNotifyEvent) => void;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 2_000, maxMs: 300_000, jitter: 0.2 };

/**
 * The watchdog's alert sender.
 *
 * @example
 * const notifier = await WatchdogNotifier.open({ sinks, store: fileStateStore(path), remindEveryMs: 3_600_000 });
 * notifier.start();
 * notifier.down(staleInfo); // the trigger goes out, retried until delivered
 * notifier.up(recoveredInfo); // then the resolve
 * await notifier.close();
 */
export class WatchdogNotifier {
  readonly #o: WatchdogNotifierOptions;
  readonly #sinks: ReadonlyMap<string, Sink>;
  readonly #store: WatchdogStateStore;
  readonly #clock: () => number;
  #state: WatchdogState;
  readonly #busy = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  #outcomes = new Map<PendingNotice, NoticeOutcome>();
  #saving: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  private constructor(options: WatchdogNotifierOptions, store: WatchdogStateStore, state: WatchdogState) {
    this.#o = options;
    this.#sinks = new Map(options.sinks.map((s) => [s.name, s]));
    this.#store = store;
    this.#clock = options.clock ?? Date.now;
    this.#state = state;
  }

  /** Loads the remembered state (an unreadable one starts afresh). */
  static async open(options: WatchdogNotifierOptions): Promise<WatchdogNotifier> {
    const store = options.store ?? memoryStateStore();
    const state = (await store.load().catch(() => undefined)) ?? { pending: [] };
    return new WatchdogNotifier(options, store, state);
  }

  /** The outage being reported, if any. */
  get outage(): OutageRecord | undefined {
    return this.#state.outage;
  }

  /** Notices not accepted yet. */
  get pending(): readonly PendingNotice[] {
    return this.#state.pending;
  }

  /** The monitor is down: a trigger on the way down; later calls refresh the outage and send reminders when due. */
  down(info: StaleInfo): void {
    const now = this.#clock();
    const found = {
      reason: info.reason,
      message: info.error.message,
      ageSeconds: info.ageSeconds,
      ...(info.error.hint ? { hint: info.error.hint } : {}),
      ...(info.stall ? { stall: info.stall } : {}),
    };
    const outage = this.#state.outage;
    if (outage === undefined) {
      const record: OutageRecord = {
        id: now.toString(36),
        instance: info.instance,
        since: now,
        ...found,
        notices: 1,
        lastNoticeAt: now,
      };
      this.#state.outage = record;
      this.#queue('trigger', record, now);
      this.#changed();
      return;
    }
    const turned = outage.reason !== found.reason;
    delete outage.hint;
    delete outage.stall;
    Object.assign(outage, found);
    // Saved when the reason turns or a reminder is queued, not at every check of a long outage.
    if (this.#remind(now) || turned) this.#changed();
  }

  /** The monitor is back: the resolve replaces whatever of the outage is still unsent. */
  up(info: RecoveredInfo): void {
    const outage = this.#state.outage;
    if (outage === undefined) return;
    const now = this.#clock();
    this.#state.outage = undefined;
    this.#queue('resolve', outage, now, { ageSeconds: info.ageSeconds, downMs: Math.max(0, now - outage.since) });
    this.#changed();
  }

  /** Keeps sending (due retries, reminders) on a timer until close(). */
  start(): void {
    this.#started = true;
    this.#schedule();
  }

  /**
   * Sends every pending notice, each sink on its own, retrying with backoff until each is
   * delivered, refused for good, superseded, or has had `maxAttempts` attempts in this drain.
   * What stays unsent remains pending (and saved) for a later run.
   */
  async drain(maxAttempts: number): Promise<NoticeOutcome[]> {
    this.#outcomes = new Map();
    // A new run tries at once, whatever backoff an earlier process had reached.
    const now = this.#clock();
    for (const n of this.#state.pending) n.nextAt = Math.min(n.nextAt, now);
    const tries = (n: PendingNotice) => this.#outcomes.get(n)?.attempts ?? 0;
    for (;;) {
      this.#kick((n) => tries(n) < maxAttempts);
      const waiting = this.#state.pending.filter((n) => tries(n) < maxAttempts && !this.#busy.has(n.sink));
      if (this.#running.size === 0 && waiting.length === 0) break;
      const next = Math.min(...waiting.map((n) => n.nextAt));
      const sleep = Number.isFinite(next) ? delay(Math.max(0, next - this.#clock())) : undefined;
      await Promise.race([...this.#running, ...(sleep ? [sleep.done] : [])]);
      sleep?.cancel();
    }
    await this.#saving;
    return [...this.#outcomes.values()];
  }

  /** Stops the timer, waits for the sends in flight (each bounded by its sink's timeout) and saves. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#running]);
    await this.#saving;
  }

  #queue(
    action: WatchdogAction,
    outage: OutageRecord,
    now: number,
    recovered?: RecoveredInfo | { ageSeconds: number; downMs: number },
  ): void {
    const scope = outage.instance ?? '*';
    const key = `watchdog:${scope}:${outage.id}:${action}${action === 'update' ? `:${outage.notices}` : ''}`;
    const payload = watchdogPayload(action, outage, now, recovered);
    for (const sink of this.#sinks.values()) {
      const existing = this.#state.pending.find((p) => p.sink === sink.name);
      // A trigger still being retried already says "down"; a reminder would only queue behind it.
      if (existing && action === 'update' && existing.outage === outage.id) continue;
      if (existing) {
        this.#drop(existing);
        this.#o.onEvent?.({ kind: 'watchdog-notice-superseded', sink: sink.name, action: existing.action, by: action });
      }
      this.#state.pending.push({ sink: sink.name, action, outage: outage.id, key, payload, attempts: 0, nextAt: now });
    }
  }

  /** Queues a reminder when one is due; true when it did. */
  #remind(now: number): boolean {
    const outage = this.#state.outage;
    const every = this.#o.remindEveryMs ?? 30 * 60_000;
    if (!outage || every <= 0 || now - outage.lastNoticeAt < every) return false;
    outage.notices += 1;
    outage.lastNoticeAt = now;
    this.#queue('update', outage, now);
    return true;
  }

  /** Starts a send for each due notice whose sink is idle (one send per sink at a time keeps order). */
  #kick(allowed: (n: PendingNotice) => boolean = () => true): void {
    const now = this.#clock();
    for (const notice of [...this.#state.pending]) {
      if (this.#busy.has(notice.sink) || notice.nextAt > now || !allowed(notice)) continue;
      this.#busy.add(notice.sink);
      const run: Promise<void> = this.#send(notice).finally(() => {
        this.#busy.delete(notice.sink);
        this.#running.delete(run);
        this.#schedule();
      });
      this.#running.add(run);
    }
  }

  async #send(notice: PendingNotice): Promise<void> {
    const sink = this.#sinks.get(notice.sink);
    if (!sink) {
      // Remembered from a run whose configuration had this sink; it is gone now.
      this.#drop(notice);
      return this.#changed();
    }
    notice.attempts += 1;
    const outcome = this.#outcomes.get(notice) ?? {
      sink: notice.sink,
      action: notice.action,
      delivered: false,
      attempts: 0,
    };
    outcome.attempts += 1;
    this.#outcomes.set(notice, outcome);
    try {
      await sink.send({ action: notice.action, payload: notice.payload, idempotencyKey: notice.key });
      outcome.delivered = true;
      delete outcome.error;
      this.#drop(notice);
      this.#o.onEvent?.({
        kind: 'watchdog-notice-sent',
        sink: notice.sink,
        action: notice.action,
        attempt: notice.attempts,
      });
    } catch (err) {
      const error = toPgwardenError(err);
      outcome.error = error.message;
      notice.lastError = error.message.slice(0, 500);
      const permanent = err instanceof SinkFailedError && err.permanent;
      const retryInMs = permanent
        ? null
        : backoffDelay(
            notice.attempts,
            this.#o.backoff ?? DEFAULT_BACKOFF,
            this.#o.random,
            err instanceof SinkFailedError ? err.retryAfterMs : undefined,
          );
      if (retryInMs === null) this.#drop(notice);
      else notice.nextAt = this.#clock() + retryInMs;
      this.#o.onEvent?.({
        kind: 'watchdog-notice-failed',
        sink: notice.sink,
        action: notice.action,
        attempt: notice.attempts,
        error,
        retryInMs,
      });
    }
    this.#changed();
  }

  #drop(notice: PendingNotice): void {
    const i = this.#state.pending.indexOf(notice);
    if (i >= 0) this.#state.pending.splice(i, 1);
  }

  /** Saves (serialised, errors reported not thrown) and sends what became due. */
  #changed(): void {
    const snapshot: WatchdogState = JSON.parse(JSON.stringify(this.#state)) as WatchdogState;
    this.#saving = this.#saving
      .then(() => this.#store.save(snapshot))
      .catch((err: unknown) => this.#o.onEvent?.({ kind: 'watchdog-state-failed', error: toPgwardenError(err) }));
    if (this.#started) this.#schedule();
  }

  #schedule(): void {
    if (!this.#started || this.#closed) return;
    clearTimeout(this.#timer);
    this.#kick();
    const now = this.#clock();
    const tick = this.#o.tickMs ?? 1_000;
    const idle = this.#state.pending.filter((n) => !this.#busy.has(n.sink)).map((n) => n.nextAt);
    const next = Math.min(now + tick, ...idle);
    this.#timer = setTimeout(
      () => {
        if (this.#remind(this.#clock())) this.#changed();
        else this.#schedule();
      },
      Math.max(10, next - now),
    );
    this.#timer.unref();
  }
}

/** A cancellable sleep. */
function delay(ms: number): { done: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { done, cancel: () => clearTimeout(timer) };
}
