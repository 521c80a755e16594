import type { AlertSignal } from '../../../src/monitor/alert-signal.js';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { addressBlock } from '../../../src/monitor/event.js';
import { loadRules, RuleEngine, type RuleEngineOptions } from '../../../src/monitor/rules/index.js';
import type { LoadRulesOptions } from '../../../src/monitor/rules/load-rules.js';

/** 2024-05-01T09:00:00Z: tests place events at fixed receive times from here. */
export const t0 = Date.UTC(2024, 4, 1, 9, 0, 0);
export const sec = 1000;
export const min = 60_000;

/** Builds events with unique ids; addrBlock is filled from addr as the pipeline does. */
export function eventFactory(prefix = 'test') {
  let n = 0;
  return (e: Partial<MonitorEvent> & { type: string; time: number }): MonitorEvent => {
    n += 1;
    const block = e.addrBlock ?? addressBlock(e.addr);
    return {
      id: `${prefix}:${n}`,
      source: e.type.startsWith('pg.') ? 'server-log' : 'security-event',
      severity: 'notice',
      fields: {},
      ...e,
      ...(block ? { addrBlock: block } : {}),
    };
  };
}

/** An engine over the whole built-in pack (plus any load options). */
export async function packEngine(
  load: LoadRulesOptions = {},
  options: Omit<RuleEngineOptions, 'rules'> = {},
): Promise<RuleEngine> {
  return new RuleEngine({ rules: await loadRules(load), ...options });
}

/**
 * Feeds events in order, flushing once per second of receive time as the daemon does, and at the
 * end flushes far enough ahead that every incident closes. Returns every signal.
 */
export function feed(engine: RuleEngine, events: readonly MonitorEvent[], flushEveryMs = 1000): AlertSignal[] {
  const out: AlertSignal[] = [];
  let nextFlush = events[0] ? events[0].time + flushEveryMs : 0;
  for (const e of events) {
    while (e.time >= nextFlush) {
      out.push(...engine.flush(nextFlush));
      nextFlush += flushEveryMs;
    }
    out.push(...engine.process(e));
  }
  const last = events.at(-1)?.time ?? 0;
  out.push(...engine.flush(last + flushEveryMs));
  out.push(...engine.flush(last + 2 * 86_400_000));
  return out;
}

/** The 'fire' signals. */
export const fires = (signals: readonly AlertSignal[]) => signals.filter((s) => s.kind === 'fire');

/** Rule ids of the 'fire' signals, sorted. */
export const firedRules = (signals: readonly AlertSignal[]) =>
  fires(signals)
    .map((s) => s.rule.id)
    .sort();
