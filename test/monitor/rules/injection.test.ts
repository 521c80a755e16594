import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { decodeForMatch } from '../../../src/monitor/rules/decode.js';
import { eventFactory, feed, firedRules, fires, packEngine, sec, t0 } from './engine-helpers.js';

/** A request parameter as the server log reports it, and the statement it ended up in. */
function parameterEvent(ev: ReturnType<typeof eventFactory>, value: string, time = t0): MonitorEvent {
  return ev({
    type: 'pg.statement',
    time,
    user: 'app_user',
    addr: '10.0.0.5',
    severity: 'info',
    statement: 'select id, name from app.customers where name = $1',
    fields: { parameters: `$1 = '${value.replaceAll("'", "''")}'` },
  });
}

describe('SQL-injection rules [M-08]', () => {
  const probes = [
    "' OR '1'='1",
    "x' or 1=1--",
    "') OR ('a'='a",
    "' AND 'x'='x",
    "' or true--",
    "x' UNION SELECT username, password FROM users--",
    '1 UNION ALL SELECT NULL,NULL',
    'UNION SELECT NULL, version()',
    '1; DROP TABLE users;--',
    '1;--',
    'pg_sleep(5)',
    "1' AND pg_sleep (10)--",
    "1'/**/OR/**/'1'='1",
    "admin'/**/--",
    '%27%20OR%20%271%27%3D%271',
    '%2527%20UNION%20SELECT%201',
    '%2527',
    'x%u2019 OR %u20191%u2019=%u20191',
    '’ OR ’1’=’1',
    'ʼ OR 1=1',
    '＇ OR ＇a＇=＇a',
    '&#39; OR &#39;1&#39;=&#39;1',
    // Comments for white space, literal comparisons, statements stacked after a quote.
    "'/*x*/OR/*x*/'1'='1",
    "'/***/OR/* a*b */'1'='1",
    "' OR 2>1--",
    "' OR 'x'<>'y'--",
    "' OR 1 IN (1)--",
    "' oR 'a' Is NoT nUlL--",
    "';DROP TABLE t--",
    "'; select 1 --",
    "x'\nOR\n'1'='1",
  ];
  for (const probe of probes) {
    it(`raises one PROBE alert for the parameter ${JSON.stringify(probe)} [M-08]`, async () => {
      const ev = eventFactory();
      const signals = feed(await packEngine(), [parameterEvent(ev, probe)]);
      expect(firedRules(signals)).toEqual(['pg-sql-injection-probe']);
      expect(fires(signals)[0]?.dedupeKey).toBe('pg-sql-injection-probe|user=app_user|addr=10.0.0.5');
      expect(fires(signals)[0]?.summary).toBe('SQL-injection probe by app_user from 10.0.0.5 (PROBE)');
    });
  }

  it('raises a PROBE alert for an injected statement in the server log and for a failed request [M-08]', async () => {
    const ev = eventFactory();
    const injected = ev({
      type: 'pg.error',
      time: t0,
      user: 'app_user',
      severity: 'error',
      sqlstate: '42601',
      message: 'syntax error at or near "OR"',
      statement: "select * from app.users where name = '' OR '1'='1' --'",
    });
    expect(firedRules(feed(await packEngine(), [injected]))).toEqual(['pg-sql-injection-probe']);
    const request = ev({
      type: 'context.request_failed',
      time: t0,
      addr: '203.0.113.8',
      fields: { path: '/items?id=1%20UNION%20SELECT%20null--' },
    });
    expect(firedRules(feed(await packEngine(), [request]))).toEqual(['pg-sql-injection-probe']);
  });

  it.each([
    ["select * from t where name = 'x'/*x*/OR/*x*/'1'='1'"],
    ["select * from t where name = 'x' OR 2>1--'"],
    ["select * from t where name = 'x' OR 'x'<>'y'--'"],
    ["select * from t where name = 'x';DROP TABLE t--'"],
    ["select * from t where name = 'x'; select 1 --'"],
    [
      "select * from t where name = 'x'/* /* nested */ */OR/* a comment longer than one hundred and twenty-eight characters, which the patterns alone do not read as white space */'1'='1'",
    ],
  ])('raises a PROBE alert for the injected statement %s in the server log [M-08]', async (statement) => {
    const ev = eventFactory();
    const e = ev({ type: 'pg.statement', time: t0, user: 'app_user', addr: '10.0.0.5', severity: 'info', statement });
    expect(firedRules(feed(await packEngine(), [e]))).toEqual(['pg-sql-injection-probe']);
  });

  it('raises nothing for ordinary statements joined with ; or comparing columns [M-08]', async () => {
    const ev = eventFactory();
    const texts = [
      "update t set a = 'x'; select 1",
      "update t set a = 'x'; select 1 -- check the count",
      "insert into t values ('a'); delete from u where b = 'c';",
      "set search_path = 'app'; select 1",
      "select * from t where a = 'x' or b > 5",
      "select * from t where a = 'x' or b < 'y'",
      "select * from t where d > '2024-01-01' or d < '2023-01-01'",
      "select * from t where kind = 'x' or kind is null",
    ];
    const events = texts.map((statement, i) =>
      ev({ type: 'pg.statement', time: t0 + i * sec, user: 'app_user', statement }),
    );
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('evaluates 64 KiB pathological texts to an answer, bounded by the patterns, with no alert [M-08]', async () => {
    // Timing is not asserted (shared CI cores); the patterns' repetitions are all bounded.
    const size = 65_536;
    const fill = (s: string) => s.repeat(Math.ceil(size / s.length)).slice(0, size);
    const texts = [
      fill("'"),
      fill("'/*"),
      fill("'/**a"),
      `'/*${'*'.repeat(size)}`,
      `' or ${'('.repeat(size)}`,
      `'${' '.repeat(size)}`,
      fill("' or ''"),
      fill("'x' or a "),
      fill("';select "),
      fill('/*/'),
    ];
    const ev = eventFactory();
    const engine = await packEngine();
    const events = texts.map((statement, i) =>
      ev({ type: 'pg.statement', time: t0 + i * sec, user: 'app_user', statement, fields: { parameters: statement } }),
    );
    expect(fires(feed(engine, events))).toEqual([]);
  });

  it("raises nothing for a single search for O'Brien, however it is written (control) [M-08]", async () => {
    const ev = eventFactory();
    const events = [
      ev({
        type: 'pg.statement',
        time: t0,
        user: 'app_user',
        addr: '10.0.0.5',
        severity: 'info',
        statement: "select id, name from app.customers where name = 'O''Brien' order by name",
      }),
      parameterEvent(ev, "O'Brien", t0 + sec),
      parameterEvent(ev, 'O’Brien', t0 + 2 * sec),
      parameterEvent(ev, 'O%27Brien', t0 + 3 * sec),
      parameterEvent(ev, 'Brien-O or else', t0 + 4 * sec),
      // A naive application splicing the name in: one syntax error.
      ev({
        type: 'pg.error',
        time: t0 + 5 * sec,
        user: 'app_user',
        addr: '10.0.0.5',
        severity: 'error',
        sqlstate: '42601',
        message: 'syntax error at or near "Brien"',
        statement: "select id from app.customers where name = 'O'Brien'",
      }),
    ];
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('does not flag ordinary statements with UNION, comments or quotes [M-08]', async () => {
    const ev = eventFactory();
    const texts = [
      'select a from t1 union select b from t2',
      "select 'it''s' as x -- a comment",
      'select /* plan hint */ 1',
      "update app.notes set body = 'Or else' where id = $1",
    ];
    const events = texts.map((statement, i) =>
      ev({ type: 'pg.statement', time: t0 + i * sec, user: 'app_user', statement }),
    );
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  const syntaxError = (ev: ReturnType<typeof eventFactory>, i: number, user: string, sqlstate = '42601') =>
    ev({
      type: 'pg.error',
      time: t0 + i * 5 * sec,
      user,
      addr: '203.0.113.30',
      severity: 'error',
      sqlstate,
      message: 'syntax error',
    });

  it('raises an alert for 5 syntax-type errors from one principal in 1 min, none for 4 [M-08]', async () => {
    const ev = eventFactory();
    const states = ['42601', '42703', '42883', '22P02', '42601'];
    const five = states.map((s, i) => syntaxError(ev, i, 'app_user', s));
    const signals = feed(await packEngine(), five);
    expect(firedRules(signals)).toEqual(['pg-sql-error-burst']);
    expect(fires(signals)[0]?.summary).toBe('5 SQL syntax errors by app_user within 1 min');
    expect(fires(feed(await packEngine(), five.slice(0, 4)))).toEqual([]);
  });

  it('counts records the classifier marked syntax_probe, and not other errors [M-08]', async () => {
    const ev = eventFactory();
    const marked = Array.from({ length: 5 }, (_, i) =>
      ev({ type: 'pg.log', time: t0 + i * sec, user: 'app_user', fields: { category: 'syntax_probe' } }),
    );
    expect(firedRules(feed(await packEngine(), marked))).toEqual(['pg-sql-error-burst']);
    const unique = Array.from({ length: 8 }, (_, i) => syntaxError(ev, i, 'app_user', '23505'));
    expect(fires(feed(await packEngine(), unique))).toEqual([]);
  });

  it('raises an address alert for 5 errors from one address by several principals [M-08]', async () => {
    const ev = eventFactory();
    const events = [0, 1, 2, 3, 4].map((i) => syntaxError(ev, i, i < 3 ? 'alice' : 'bob'));
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-sql-error-burst-address']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-sql-error-burst-address|addr=203.0.113.30');
  });

  it('raises nothing for 5 syntax errors spread over more than a minute [M-08]', async () => {
    const ev = eventFactory();
    const events = [0, 1, 2, 3, 4].map((i) =>
      ev({ type: 'pg.error', time: t0 + i * 20 * sec, user: 'app_user', severity: 'error', sqlstate: '42601' }),
    );
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('decodes repeated URL encoding, escapes, entities and quote look-alikes', () => {
    expect(decodeForMatch('%2527%20OR%20%271%27%3D%271')).toBe("' OR '1'='1");
    expect(decodeForMatch('\\u0027 or \\x27a\\x27')).toBe("' or 'a'");
    expect(decodeForMatch('&#x27;&#39;&apos;')).toBe("'''");
    expect(decodeForMatch('’ʼ＇')).toBe("'''");
    const plain = 'select 1';
    expect(decodeForMatch(plain)).toBe(plain);
  });
});
