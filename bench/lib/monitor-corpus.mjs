// A labelled corpus for measuring the security monitor's detection quality (catalog case M-15):
// warm-up days and one measured day of benign traffic of a multi-tenant application, with attacks
// of each class injected into the measured day, every one labelled (class, the rules that count
// as detecting it, start and end, the entities an alert must name). `replayCorpus` runs it through
// MonitorPipeline + RuleEngine + UserAnalytics with the clock at each event's receive time;
// `scoreCorpus` gives recall per class, false alerts and detection latency.
//
// Plain ESM that imports nothing of pgwarden: the bench passes the classes from dist/, vitest from
// src/. Server-log events are built as PostgreSQL log records and classified by the real
// classifier (`classifyLogRecord`, passed in), so their `pg.*` type and fields.category are what
// the monitor would see. The generator's parts live in monitor-corpus/ (basics, builder, the
// benign traffic, the look-alikes, the attacks, their injection); this file is the public face.
//
//   const corpus = generateCorpus({ seed: 1, users: 300 }, { classifyLogRecord });
//   const run = await replayCorpus(corpus, { MonitorPipeline, RuleEngine, UserAnalytics, rules });
//   const score = scoreCorpus(corpus, run.alerts);

import { ATTACK_CLASSES, Addresses, DAY, HOUR, MEASURED_DAY, MIN, Rng, SEC } from './monitor-corpus/basics.mjs';
import { population, roleGrants, travel, userDay } from './monitor-corpus/benign.mjs';
import { appDatabase, staffDay } from './monitor-corpus/benign-database.mjs';
import { Builder, Stats } from './monitor-corpus/builder.mjs';
import { injectAttacks, victimPools } from './monitor-corpus/inject.mjs';
import { lookalikes } from './monitor-corpus/lookalikes.mjs';

export { ATTACK_CLASSES, MEASURED_DAY, Rng } from './monitor-corpus/basics.mjs';
export { CLASS_RULES } from './monitor-corpus/inject.mjs';

/** The defaults of {@link generateCorpus}. */
export const CORPUS_DEFAULTS = Object.freeze({
  seed: 1,
  users: 300,
  tenants: 12,
  /** Days of benign traffic before the measured day (the analytics needs ≥ 3 days and ≥ 50 events per user). */
  warmupDays: 7,
  attacksPerClass: 20,
  classes: ATTACK_CLASSES,
  /** The statistics source's sampling interval (the daemon's default is 10 s). */
  statsIntervalMs: 10_000,
  day: MEASURED_DAY,
  /** Events written by this application host carry its clock, `skewMs` ahead (F-10). */
  skewHost: '10.20.0.12',
  skewMs: 5 * MIN,
  /** Rows the app role reads per minute when every tenant is in its working hours. */
  appRowsPerMinute: 9_000,
  typoRate: 0.06,
  forgotRate: 0.01,
  newNetworkRate: 0.02,
  travelRate: 0.001,
  /** Share of a credential-stuffing list whose e-mail has an account here (at least the hits + 2). */
  stuffingKnownShare: 0.05,
  roleGrantsPerDay: 8,
  adminGrantsPerDay: 0.3,
});

/**
 * Generates the corpus: `warmupDays` benign days, then the measured day with benign look-alikes
 * and `attacksPerClass` labelled attacks of each class. The same options and seed give the same
 * corpus. `deps.classifyLogRecord` turns the generated server-log records into events.
 *
 * @example
 * const corpus = generateCorpus({ seed: 7, users: 120, warmupDays: 4 }, { classifyLogRecord });
 * corpus.events.length; // entries { at, event }, in receive order
 */
export function generateCorpus(options = {}, deps) {
  const o = { ...CORPUS_DEFAULTS, ...options };
  const r = new Rng(o.seed);
  const addrs = new Addresses(r);
  const b = new Builder(r, deps.classifyLogRecord, { host: o.skewHost, ms: o.skewMs });
  const pop = population(r, addrs, o);
  const stats = new Stats(b, o.statsIntervalMs);
  const env = { b, r, o, pop, addrs, stats, benign: [], attacks: [], established: [] };
  const first = o.day - o.warmupDays * DAY;
  for (let day = first; day <= o.day; day += DAY) {
    const measured = day === o.day;
    // Victims are chosen once the warm-up exists: unusual access needs users with a history.
    if (measured) victimPools(env);
    for (const u of pop.users) userDay(env, u, day);
    appDatabase(env, day);
    staffDay(env, day, measured);
    roleGrants(env, day, measured);
    travel(env, day);
    if (measured) {
      lookalikes(env, day);
      injectAttacks(env, day);
    }
  }
  stats.emit();
  b.entries.sort((x, y) => x.at - y.at);
  return {
    options: o,
    start: first,
    dayStart: o.day,
    dayEnd: o.day + DAY,
    events: b.entries,
    attacks: env.attacks,
    benign: env.benign,
    population: { users: pop.users.length, tenants: pop.tenants.length, established: env.established },
  };
}

/**
 * Replays the corpus in receive order through MonitorPipeline + RuleEngine + UserAnalytics (no
 * store), the clock at each event's receive time, flushing once per second of corpus time as the
 * daemon does. Returns every 'fire' signal as an alert `{ rule, group, time, summary }`, and the
 * 'update' signals apart.
 *
 * @example
 * const run = await replayCorpus(corpus, { MonitorPipeline, RuleEngine, UserAnalytics, ChangeWindows, rules: await loadRules() });
 */
export async function replayCorpus(corpus, deps) {
  const { MonitorPipeline, RuleEngine, UserAnalytics, ChangeWindows, rules } = deps;
  const flushMs = deps.flushIntervalMs ?? 1000;
  let now = corpus.start;
  const clock = () => now;
  const alerts = [];
  const updates = [];
  const analytics = new UserAnalytics({ clock });
  const engine = new RuleEngine({ rules, clock });
  const pipeline = new MonitorPipeline({
    engine,
    clock,
    analytics: { observe: (e) => analytics.observe(e).events, noteAlert: (u, s) => analytics.noteAlert(u, s) },
    // As the daemon: the analytics' context (known addresses, usual volumes), then change windows.
    enrichers: ChangeWindows ? [analytics, new ChangeWindows()] : [analytics],
    onSignals: async (signals) => {
      for (const s of signals) {
        const a = {
          rule: s.rule.id,
          severity: s.rule.severity,
          group: s.group,
          time: now,
          firstSeen: s.firstSeen,
          count: s.eventCount,
          summary: s.summary,
        };
        (s.kind === 'fire' ? alerts : updates).push(a);
      }
    },
  });
  const wall = performance.now();
  const cpu = process.cpuUsage();
  let flushed = now;
  for (const { at, event } of corpus.events) {
    if (at - flushed >= flushMs) {
      now = at;
      await pipeline.flush();
      flushed = at;
    }
    now = at;
    await pipeline.push([event]);
  }
  now += DAY;
  await pipeline.flush();
  const used = process.cpuUsage(cpu);
  return {
    alerts,
    updates,
    events: pipeline.stats().events,
    wallMs: performance.now() - wall,
    cpuMs: (used.user + used.system) / 1000,
    engine: engine.stats(),
    analytics: analytics.stats(),
  };
}

/** The p-quantile (0–1) of `values` (nearest rank), or NaN for none. */
export function quantile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Whether `alert` names only entities of `label` and came within its window plus `graceMs`. */
function covers(label, alert, graceMs) {
  if (alert.time < label.start || alert.time > label.end + graceMs) return false;
  for (const v of Object.values(alert.group)) if (!label.entities.has(String(v).toLowerCase())) return false;
  return true;
}

/**
 * Scores a replay: per class the instances detected (an alert of an accepted rule naming only the
 * attack's entities between its start and its end + `graceMs`), by the class's primary rule too,
 * the detection latency (alert time − attack start, corpus time) and the lag after the attack met
 * the rule's threshold (alert time − `detectable`); the measured day's false
 * alerts (matching no attack, nor naming only an attack's entities within `aftermathMs` after it,
 * which are listed apart as `aftermath`; each attributed to the benign scenario it matches, or
 * 'background'); and the false alerts of each warm-up day (benign days without look-alikes).
 *
 * @example
 * const score = scoreCorpus(corpus, run.alerts);
 * score.classes.brute_force.recall; // 1
 */
export function scoreCorpus(corpus, alerts, { graceMs = 30 * SEC, aftermathMs = HOUR, updates = [] } = {}) {
  const classes = {};
  for (const cls of corpus.options.classes)
    classes[cls] = {
      instances: 0,
      detected: 0,
      byPrimary: 0,
      onlyUpdated: 0,
      alerts: 0,
      latencies: [],
      lags: [],
      missed: [],
    };
  const explained = new Set();
  const matched = new Map();
  for (const label of corpus.attacks) {
    const c = classes[label.class];
    c.instances += 1;
    let first;
    let primary = false;
    for (const a of alerts) {
      if (!covers(label, a, graceMs)) continue;
      explained.add(a);
      c.alerts += 1;
      if (!label.rules.includes(a.rule)) continue;
      if (!first || a.time < first.time) first = a;
      if (a.rule === label.primary) primary = true;
    }
    // Not raised, but grown: the attack's events joined an incident already open for its entities.
    if (!first && updates.some((a) => label.rules.includes(a.rule) && covers(label, a, graceMs))) c.onlyUpdated += 1;
    if (first) {
      c.detected += 1;
      c.latencies.push(first.time - label.start);
      c.lags.push(Math.max(0, first.time - label.detectable));
      matched.set(label.id, first);
    } else c.missed.push(label);
    if (primary) c.byPrimary += 1;
  }
  const latencies = [];
  const lags = [];
  for (const c of Object.values(classes)) {
    c.recall = c.instances === 0 ? Number.NaN : c.detected / c.instances;
    c.p50 = quantile(c.latencies, 0.5);
    c.p95 = quantile(c.latencies, 0.95);
    c.lagP95 = quantile(c.lags, 0.95);
    latencies.push(...c.latencies);
    lags.push(...c.lags);
  }
  const inDay = alerts.filter((a) => a.time >= corpus.dayStart && a.time < corpus.dayEnd);
  // The victim logging in after the attack on their account (a success after the guesses, from a
  // new network with the attack's alerts still in the risk score) is flagged for a reason.
  const aftermath = inDay.filter(
    (a) =>
      !explained.has(a) && Object.keys(a.group).length > 0 && corpus.attacks.some((l) => covers(l, a, aftermathMs)),
  );
  const falseAlerts = inDay
    .filter((a) => !explained.has(a) && !aftermath.includes(a))
    .map((a) => ({ ...a, scenario: corpus.benign.find((l) => covers(l, a, 5 * MIN))?.scenario ?? 'background' }));
  const warmup = [];
  for (let day = corpus.start; day < corpus.dayStart; day += DAY) {
    warmup.push({
      day: new Date(day).toISOString().slice(0, 10),
      alerts: alerts.filter((a) => a.time >= day && a.time < day + DAY),
    });
  }
  return {
    classes,
    latency: {
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      max: latencies.length ? Math.max(...latencies) : Number.NaN,
    },
    /** Alert time − the moment the attack's events met the rule's documented threshold. */
    lag: { p50: quantile(lags, 0.5), p95: quantile(lags, 0.95), max: lags.length ? Math.max(...lags) : Number.NaN },
    alertsOnDay: inDay.length,
    attackAlerts: inDay.length - falseAlerts.length - aftermath.length,
    aftermath,
    falseAlerts,
    warmup,
    detections: matched,
  };
}
