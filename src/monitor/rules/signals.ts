import type { AlertSignal } from '../alert-signal.js';
import type { MonitorEvent } from '../event.js';
import type { CompiledRule, Group } from './compiled-rule.js';
import { dedupeKey, displayValue, type GroupPart, renderSummary } from './summary.js';
import type { TimeRing } from './window.js';

/** The events of an `after` condition that preceded a firing event. */
export interface Preceding {
  ids: string[];
  count: number;
  first: number | undefined;
}

/**
 * The 'fire' signal of a group that crossed its rule's threshold with event `e`; opens the group's
 * incident and frees the threshold state it no longer needs.
 */
export function fireSignal(
  cr: CompiledRule,
  g: Group,
  e: MonitorEvent,
  before: Preceding | undefined,
  maxEvidence: number,
): AlertSignal {
  const ring = g.ring as TimeRing;
  const cutoff = e.time - cr.windowMs;
  let count = ring.length + (g.counter?.total(e.time) ?? 0);
  let ids = ring.lastIds(maxEvidence);
  let firstSeen = ring.oldest ?? e.time;
  if (before) {
    count += before.count;
    ids = [...before.ids, ...ids].slice(-maxEvidence);
    firstSeen = Math.min(firstSeen, before.first ?? firstSeen);
  }
  const distinct: Record<string, number> = {};
  cr.distinct.forEach((d, i) => (distinct[d.spec] = g.distinct?.[i]?.countSince(cutoff) ?? 0));
  const sum: Record<string, number> = {};
  cr.sums.forEach((s, i) => (sum[s.spec] = g.sums?.[i]?.total(e.time) ?? 0));
  const details: Record<string, unknown> = {
    threshold: { ...cr.rule.threshold },
    window: cr.rule.window,
    windowSeconds: cr.windowMs / 1000,
  };
  if (cr.distinct.length > 0) details.distinct = distinct;
  if (cr.sums.length > 0) details.sum = sum;
  if (cr.rule.after)
    details.after = {
      count: cr.rule.after.count,
      distinct: cr.rule.after.distinct,
      precedingEvents: before?.count ?? 0,
    };
  if (cr.details.length > 0) {
    const fields: Record<string, string | number | boolean> = {};
    for (const d of cr.details) {
      const v = d.get(e);
      if (v !== undefined) fields[d.path] = typeof v === 'string' ? displayValue(v) : v;
    }
    details.fields = fields;
  }
  g.incident = {
    firstSeen,
    total: count,
    pending: 0,
    pendingFirst: 0,
    pendingLast: 0,
    pendingIds: [],
    lastEmit: e.time,
    distinct,
    sum,
  };
  // The incident needs none of the threshold state any more.
  g.ring = undefined;
  g.distinct = undefined;
  g.sums = undefined;
  g.counter = undefined;
  return {
    kind: 'fire',
    rule: cr.ref,
    dedupeKey: dedupeKey(cr.rule.id, g.parts),
    group: groupRecord(g.parts),
    eventCount: count,
    firstSeen,
    lastSeen: e.time,
    eventIds: ids,
    summary: renderSummary(cr.rule, { count, windowMs: cr.windowMs, parts: g.parts, distinct, sum }),
    details,
  };
}

/** The 'update' signal of an open incident: the events added since its last signal. */
export function updateSignal(cr: CompiledRule, g: Group, now: number): AlertSignal {
  const inc = g.incident as NonNullable<Group['incident']>;
  const span = Math.max(cr.windowMs, inc.pendingLast - inc.firstSeen);
  const signal: AlertSignal = {
    kind: 'update',
    rule: cr.ref,
    dedupeKey: dedupeKey(cr.rule.id, g.parts),
    group: groupRecord(g.parts),
    eventCount: inc.pending,
    firstSeen: inc.pendingFirst,
    lastSeen: inc.pendingLast,
    eventIds: inc.pendingIds,
    summary: renderSummary(cr.rule, {
      count: inc.total,
      windowMs: span,
      parts: g.parts,
      distinct: inc.distinct,
      sum: inc.sum,
    }),
    details: { window: cr.rule.window, windowSeconds: cr.windowMs / 1000, incidentEvents: inc.total },
  };
  inc.pending = 0;
  inc.pendingIds = [];
  inc.lastEmit = now;
  return signal;
}

function groupRecord(parts: readonly GroupPart[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts) {
    if (p.name !== undefined && p.value !== undefined)
      out[p.name] = p.value.length > 200 ? `${p.value.slice(0, 199)}…` : p.value;
  }
  return out;
}
