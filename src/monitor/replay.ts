import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import type { AlertSignal } from './alert-signal.js';
import type { UntimedEvent } from './event.js';
import { MonitorPipeline } from './pipeline.js';
import { type Rule, RuleEngine } from './rules/index.js';
import { classifyLogRecord, createLogParser, type LogFormat } from './sources/server-log/index.js';

/** One incident found by a replay, its 'fire' and 'update' signals merged. */
export interface ReplayIncident {
  rule: string;
  title: string;
  severity: string;
  attack: readonly string[];
  dedupeKey: string;
  group: Readonly<Record<string, string>>;
  summary: string;
  /** Events counted across the incident. */
  events: number;
  firstSeen: number;
  lastSeen: number;
  evidence: string[];
}

/** What `replayLog` found. */
export interface ReplayResult {
  format: LogFormat;
  records: number;
  malformed: number;
  incidents: ReplayIncident[];
}

/** Options of {@link replayLog}. */
export interface ReplayOptions {
  rules: readonly Rule[];
  /** The log's format; default from the extension (.json, .csv, else stderr). */
  format?: LogFormat;
}

/**
 * Runs the rules over a server log file (`pgwarden monitor replay <file>`): what the monitor
 * would have raised, without a database. Windows use the log's own timestamps, which the server
 * wrote as it received each connection or statement (a record without one counts at the time of
 * the record before it).
 *
 * @example
 * const result = await replayLog('postgresql-2026-11-22.json', { rules: await loadRules() });
 * for (const i of result.incidents) console.log(i.severity, i.summary);
 */
export async function replayLog(path: string, options: ReplayOptions): Promise<ReplayResult> {
  const format = options.format ?? formatOf(path);
  let malformed = 0;
  const parser = createLogParser(format, { onMalformed: () => (malformed += 1) });
  let logTime = 0;
  const engine = new RuleEngine({ rules: options.rules, clock: () => logTime });
  const incidents = new Map<string, ReplayIncident>();
  const pipeline = new MonitorPipeline({
    engine,
    clock: () => logTime,
    onSignals: async (signals) => {
      for (const s of signals) merge(incidents, s);
    },
  });
  let records = 0;
  const take = async (batch: ReturnType<typeof parser.push>) => {
    const events: UntimedEvent[] = [];
    for (const record of batch) {
      records += 1;
      if (record.time !== undefined) logTime = Math.max(logTime, record.time);
      events.push({ ...classifyLogRecord(record, `log:replay:${record.offset}`), time: logTime });
    }
    if (events.length > 0) await pipeline.push(events);
  };
  for await (const chunk of createReadStream(path)) await take(parser.push(chunk as Buffer));
  await take(parser.flush());
  // Incidents still growing at the end of the file are counted in full.
  await pipeline.flush(logTime + 24 * 3_600_000);
  return {
    format,
    records,
    malformed,
    incidents: [...incidents.values()].sort(
      (a, b) => a.firstSeen - b.firstSeen || a.dedupeKey.localeCompare(b.dedupeKey),
    ),
  };
}

function merge(incidents: Map<string, ReplayIncident>, s: AlertSignal): void {
  const known = incidents.get(s.dedupeKey);
  if (!known || s.kind === 'fire') {
    if (known) {
      known.events += s.eventCount;
      known.lastSeen = s.lastSeen;
      return;
    }
    incidents.set(s.dedupeKey, {
      rule: s.rule.id,
      title: s.rule.title,
      severity: s.rule.severity,
      attack: s.rule.attack,
      dedupeKey: s.dedupeKey,
      group: s.group,
      summary: s.summary,
      events: s.eventCount,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      evidence: [...s.eventIds],
    });
    return;
  }
  known.events += s.eventCount;
  known.lastSeen = Math.max(known.lastSeen, s.lastSeen);
}

function formatOf(path: string): LogFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.json' || ext === '.jsonl') return 'jsonlog';
  if (ext === '.csv') return 'csvlog';
  return 'stderr';
}
