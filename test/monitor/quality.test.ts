import { beforeAll, describe, expect, it } from 'vitest';
import type { AlertSignal } from '../../src/monitor/alert-signal.js';
import { UserAnalytics } from '../../src/monitor/analytics/index.js';
import type { UntimedEvent } from '../../src/monitor/event.js';
import { MonitorPipeline } from '../../src/monitor/pipeline.js';
import { ChangeWindows } from '../../src/monitor/change-windows.js';
import { loadRules, type Rule, RuleEngine } from '../../src/monitor/rules/index.js';
import { classifyLogRecord } from '../../src/monitor/sources/server-log/index.js';

// Catalog case M-15: replay a labelled corpus (benign days of a multi-tenant app, then a measured
// day with 20 injected attacks of each class and benign look-alikes) through the pipeline, the
// whole built-in pack and the behaviour analytics, the clock at each event's receive time. The
// corpus generator is bench/lib/monitor-corpus.mjs (plain ESM, shared with bench/monitor.mjs).

interface Alert {
  rule: string;
  group: Record<string, string>;
  time: number;
  summary: string;
}
interface Label {
  id: string;
  class: string;
  kind: string;
  rules: string[];
  start: number;
  end: number;
  detectable: number;
  entities: Set<string>;
}
interface Corpus {
  options: { classes: string[]; attacksPerClass: number; skewHost: string; skewMs: number };
  start: number;
  dayStart: number;
  dayEnd: number;
  events: { at: number; event: UntimedEvent }[];
  attacks: Label[];
  benign: { scenario: string }[];
}
interface ClassScore {
  instances: number;
  detected: number;
  recall: number;
  p95: number;
  lagP95: number;
  missed: Label[];
}
interface Score {
  classes: Record<string, ClassScore>;
  latency: { p50: number; p95: number; max: number };
  lag: { p50: number; p95: number; max: number };
  falseAlerts: (Alert & { scenario: string })[];
}
interface CorpusModule {
  ATTACK_CLASSES: string[];
  generateCorpus(options: Record<string, unknown>, deps: { classifyLogRecord: typeof classifyLogRecord }): Corpus;
  replayCorpus(
    corpus: Corpus,
    deps: {
      MonitorPipeline: typeof MonitorPipeline;
      RuleEngine: typeof RuleEngine;
      UserAnalytics: typeof UserAnalytics;
      ChangeWindows: typeof ChangeWindows;
      rules: readonly Rule[];
    },
  ): Promise<{ alerts: Alert[]; updates: Alert[]; events: number }>;
  scoreCorpus(corpus: Corpus, alerts: Alert[]): Score;
}

const corpusModule = (await import(
  new URL('../../bench/lib/monitor-corpus.mjs', import.meta.url).href
)) as CorpusModule;
const { ATTACK_CLASSES, generateCorpus, replayCorpus, scoreCorpus } = corpusModule;

/**
 * M-15 goals the built-in pack misses on this corpus, and why (docs/benchmarks.md, section Monitor,
 * gives the figures). They run as `it.fails`, so the suite records a gap without hiding it: once a
 * change lands, the test fails until its entry is removed here, and from then on it asserts the goal.
 */
const KNOWN_GAPS: { recall: Record<string, string>; falseAlerts?: string } = {
  recall: {},
};

const min = 60_000;
let corpus: Corpus;
let score: Score;

beforeAll(async () => {
  corpus = generateCorpus(
    { seed: 15, users: 240, warmupDays: 7, attacksPerClass: 20, statsIntervalMs: 20_000 },
    { classifyLogRecord },
  );
  const run = await replayCorpus(corpus, {
    MonitorPipeline,
    RuleEngine,
    UserAnalytics,
    ChangeWindows,
    rules: await loadRules(),
  });
  score = scoreCorpus(corpus, run.alerts);
});

describe('detection quality on a labelled corpus of one benign day with injected attacks', () => {
  it('replays 20 labelled attacks of each class among a hundred thousand benign events [M-15]', () => {
    expect(corpus.events.length).toBeGreaterThan(100_000);
    for (const cls of ATTACK_CLASSES) expect(corpus.attacks.filter((a) => a.class === cls)).toHaveLength(20);
    const types = new Set(corpus.events.map((e) => e.event.type));
    for (const t of ['pg.auth_failed', 'pg.error', 'pg.statement', 'pg.audit', 'pg.rows_read', 'auth.login_failed'])
      expect(types).toContain(t);
  });

  for (const cls of ATTACK_CLASSES) {
    const gap = KNOWN_GAPS.recall[cls];
    (gap ? it.fails : it)(`detects at least 95 % of the ${cls.replaceAll('_', ' ')} attacks [M-15]`, () => {
      const c = score.classes[cls]!;
      expect(c.instances).toBe(20);
      const missed = c.missed.map((m) => `${m.id} ${m.kind}`).join('; ');
      expect(c.recall, `missed: ${missed}`).toBeGreaterThanOrEqual(0.95);
    });
  }

  (KNOWN_GAPS.falseAlerts ? it.fails : it)('raises at most one false alert on the benign day [M-15]', () => {
    const found = score.falseAlerts.map((a) => `${a.rule} (${a.scenario})`).join(', ');
    expect(score.falseAlerts.length, found).toBeLessThanOrEqual(1);
  });

  it('raises nothing from the rule each look-alike stays below: 9 failures, 19 bad tokens, 4 syntax errors, 4 RLS violations, 90 000 rows, searches for O’Brien [M-01][M-08][M-10][M-11][M-15]', () => {
    const lookalikes: [string, string[]][] = [
      ['nine-failures', ['pg-brute-force', 'pg-distributed-brute-force', 'pg-account-compromise']],
      ['nineteen-bad-tokens', ['pg-token-forgery']],
      ['four-syntax-errors', ['pg-sql-error-burst', 'pg-sql-error-burst-address', 'pg-sql-injection-probe']],
      ['four-rls-violations', ['pg-rls-violation-burst']],
      ['analyst-90k-rows', ['pg-mass-read']],
    ];
    for (const [scenario, rules] of lookalikes) {
      expect(corpus.benign.some((b) => b.scenario === scenario)).toBe(true);
      expect(score.falseAlerts.filter((a) => a.scenario === scenario && rules.includes(a.rule))).toEqual([]);
    }
    expect(score.falseAlerts.filter((a) => a.rule === 'pg-sql-injection-probe')).toEqual([]);
  });

  // Detection latency is measured from the event that completed what the rule looks for (the 10th
  // failure, the 11th account, the 100 000th row): before it, no threshold detector can know. The
  // time from an attack's first event is mostly the attacker's pace (a slow spray takes minutes to
  // reach its 11th account); docs/benchmarks.md reports it beside this figure.
  it('alerts within 30 s of the moment an attack met its rule’s threshold at p95 [M-15]', () => {
    expect(Number.isFinite(score.lag.p95)).toBe(true);
    expect(score.lag.p95).toBeLessThanOrEqual(30_000);
  });
});

describe('window arithmetic on receive time, not the client’s clock', () => {
  const small = { seed: 4, users: 70, warmupDays: 4, attacksPerClass: 3, statsIntervalMs: 60_000 };
  const classes = ATTACK_CLASSES.filter((c) => c !== 'unusual_access');

  it('raises the same alerts at the same times when the app host’s clock runs 5 min ahead [M-15][F-10]', async () => {
    const rules = await loadRules();
    const run = async (skewMs: number) => {
      const c = generateCorpus({ ...small, classes, skewMs }, { classifyLogRecord });
      const r = await replayCorpus(c, { MonitorPipeline, RuleEngine, UserAnalytics, ChangeWindows, rules });
      return { c, alerts: r.alerts.map((a) => `${a.time} ${a.rule} ${JSON.stringify(a.group)}`) };
    };
    const straight = await run(0);
    const skewed = await run(5 * min);
    const ahead = skewed.c.events.filter((e) => (e.event.occurredAt ?? 0) - e.at >= 5 * min - 1000);
    expect(ahead.length).toBeGreaterThan(1000);
    expect(straight.c.events.some((e) => (e.event.occurredAt ?? 0) > e.at)).toBe(false);
    expect(skewed.alerts.length).toBeGreaterThan(30);
    expect(skewed.alerts).toEqual(straight.alerts);
  });

  it('counts 10 failures received within 5 min whatever their occurredAt, and none received over 2 h that claim one minute [M-01][M-15][F-10]', async () => {
    const rules = await loadRules();
    const t0 = Date.UTC(2026, 10, 23, 9);
    const replay = async (times: { at: number; occurredAt: number }[]) => {
      let now = t0;
      const fired: AlertSignal[] = [];
      const pipeline = new MonitorPipeline({
        engine: new RuleEngine({ rules, clock: () => now }),
        clock: () => now,
        onSignals: async (signals) => {
          fired.push(...signals.filter((s) => s.kind === 'fire'));
        },
      });
      for (const [i, { at, occurredAt }] of times.entries()) {
        now = at;
        await pipeline.push([
          {
            id: `sec:${i}`,
            source: 'security-event',
            type: 'auth.login_failed',
            severity: 'notice',
            occurredAt,
            user: 'u-42',
            addr: '203.0.113.9',
            fields: { reason: 'wrong_password' },
          },
        ]);
      }
      now += 86_400_000;
      await pipeline.flush();
      return fired.map((s) => s.rule.id);
    };
    // Received 20 s apart; the writing host's clock claims they spread over two hours.
    const burst = await replay(
      Array.from({ length: 10 }, (_, i) => ({ at: t0 + i * 20_000, occurredAt: t0 + i * 13 * min })),
    );
    expect(burst).toEqual(['pg-brute-force']);
    // Received 13 min apart; the host claims one minute.
    const spread = await replay(
      Array.from({ length: 10 }, (_, i) => ({ at: t0 + i * 13 * min, occurredAt: t0 + i * 6_000 })),
    );
    expect(spread).toEqual([]);
  });
});
