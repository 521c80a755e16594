import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, type PgwardenError } from '../../../src/errors/index.js';
import {
  applyOverride,
  builtinRulesDirectory,
  loadRules,
  parseRuleFile,
  parseRules,
  RuleEngine,
  ruleToDocument,
} from '../../../src/monitor/rules/index.js';
import { eventFactory, feed, firedRules, fires, packEngine, sec, t0 } from './engine-helpers.js';

const base = `title: T\nseverity: low\nattack: [T1078]\nmatch: { type: x.y }\n`;

function invalid(fn: () => unknown): PgwardenError {
  try {
    fn();
  } catch (err) {
    return err as PgwardenError;
  }
  throw new Error('expected PW602');
}

async function invalidAsync(fn: () => Promise<unknown>): Promise<PgwardenError> {
  try {
    await fn();
  } catch (err) {
    return err as PgwardenError;
  }
  throw new Error('expected PW602');
}

describe('rule format', () => {
  it('reads one rule, a list of rules, and several documents', () => {
    expect(parseRules(`id: a\n${base}`, 'one.yml').map((r) => r.id)).toEqual(['a']);
    const list = `- id: a\n  ${base.trimEnd().split('\n').join('\n  ')}\n- id: b\n  ${base.trimEnd().split('\n').join('\n  ')}\n`;
    expect(parseRules(list, 'list.yml').map((r) => r.id)).toEqual(['a', 'b']);
    expect(parseRules(`id: a\n${base}---\nid: b\n${base}---\n`, 'docs.yml').map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('fills the defaults: count 1, window 5m, suppress 1h, enabled', () => {
    const [rule] = parseRules(`id: a\n${base}`, 'one.yml');
    expect(rule).toMatchObject({
      threshold: { count: 1, distinct: {}, sum: {} },
      window: '5m',
      windowMs: 300_000,
      suppress: '1h',
      suppressSeconds: 3600,
      enabled: true,
      groupBy: [],
      origin: 'one.yml',
    });
  });

  const cases: [string, string, string][] = [
    ['a bad severity', `id: bad-sev\ntitle: T\nseverity: urgent\nattack: [T1078]\nmatch: { type: x }\n`, 'severity'],
    ['an unknown key', `id: typo\n${base}tresholds: { count: 3 }\n`, 'tresholds'],
    ['a bad window', `id: win\n${base}window: 5 minutes\n`, 'window'],
    ['a bad ATT&CK id', `id: att\ntitle: T\nseverity: low\nattack: [1110]\nmatch: { type: x }\n`, 'attack'],
    ['a bad id', `id: Bad Id\n${base}`, 'id'],
    [
      'an unknown modifier',
      `id: mod\n${base.replace('{ type: x.y }', '{ fields.reason|sounds_like: x }')}`,
      'match.fields.reason|sounds_like',
    ],
    ['an unknown field', `id: fld\n${base}group_by: [usr]\n`, 'group_by.usr'],
    ['grouping on a statement', `id: stm\n${base}group_by: [statement]\n`, 'group_by.statement'],
    [
      'grouping on a query field',
      `id: qry\n${base}threshold: { distinct: { fields.query: 2 } }\n`,
      'threshold.distinct.fields.query',
    ],
    [
      'a bad regular expression',
      `id: re\n${base.replace('{ type: x.y }', "{ message|re: '(unclosed' }")}`,
      'match.message|re',
    ],
    [
      'a bad address block',
      `id: cidr\n${base.replace('{ type: x.y }', "{ addr|cidr: '10.0.0.0/33' }")}`,
      'match.addr|cidr',
    ],
    [
      'a non-numeric bound',
      `id: gte\n${base.replace('{ type: x.y }', '{ fields.score|gte: high }')}`,
      'match.fields.score|gte',
    ],
    ['an unknown summary placeholder', `id: sum\n${base}summary: 'by {usr}'\n`, 'summary'],
    ['a negative count', `id: neg\n${base}threshold: { count: -1 }\n`, 'threshold.count'],
    ['a secret in details', `id: det\n${base}details_fields: [fields.password_hint]\n`, 'details_fields'],
  ];
  for (const [name, text, field] of cases) {
    it(`refuses ${name} with PW602 naming the file, the rule and the field`, () => {
      const err = invalid(() => parseRules(text, '/etc/pgwarden/rules/mine.yml'));
      expect(err.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
      const id = /^id: (.*)$/m.exec(text)?.[1] ?? '';
      expect(err.message).toContain('/etc/pgwarden/rules/mine.yml');
      expect(err.detail).toContain(`/etc/pgwarden/rules/mine.yml: rule ${id}: `);
      expect(err.detail).toContain(field);
    });
  }

  it('refuses YAML that does not parse, naming the file and the line', () => {
    const err = invalid(() => parseRules(`id: a\ntitle: [unclosed\n`, 'broken.yml'));
    expect(err.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
    expect(err.detail).toMatch(/broken\.yml: rule \?: YAML at line \d+/);
  });

  it('reads back a rule from its document unchanged', async () => {
    for (const rule of await loadRules()) {
      const again = parseRules(JSON.stringify(ruleToDocument(rule)), rule.origin)[0];
      expect(again).toEqual(rule);
    }
  });
});

describe('loadRules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgw-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the built-in pack: every family, every rule mapped to ATT&CK, ids unique', async () => {
    const files = (await readdir(builtinRulesDirectory())).sort();
    expect(files).toEqual([
      'access.yml',
      'authentication.yml',
      'exfiltration.yml',
      'injection.yml',
      'monitor-health.yml',
      'privilege.yml',
      'rls.yml',
      'tampering.yml',
    ]);
    const rules = await loadRules();
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    expect(rules.length).toBeGreaterThanOrEqual(30);
    for (const rule of rules) {
      expect(rule.attack.length).toBeGreaterThan(0);
      expect(rule.description.length).toBeGreaterThan(20);
      expect(rule.origin).toMatch(/^builtin:[a-z-]+\.yml$/);
    }
    expect(await loadRules({ builtin: false })).toEqual([]);
  });

  it('loads rule files and directories (.yml and .yaml only), after the pack', async () => {
    const sub = join(dir, 'dir');
    await mkdir(sub);
    await writeFile(join(sub, 'b.yaml'), `id: my-b\n${base}`);
    await writeFile(join(sub, 'a.yml'), `id: my-a\n${base}`);
    await writeFile(join(sub, 'notes.txt'), 'not a rule');
    await writeFile(join(dir, 'single.yml'), `id: my-single\n${base}`);
    const rules = await loadRules({ builtin: false, files: [join(dir, 'single.yml')], directories: [sub] });
    expect(rules.map((r) => [r.id, r.origin])).toEqual([
      ['my-single', join(dir, 'single.yml')],
      ['my-a', join(sub, 'a.yml')],
      ['my-b', join(sub, 'b.yaml')],
    ]);
  });

  it('refuses two user rules with one id, and a missing file, with PW602', async () => {
    await writeFile(join(dir, 'dup1.yml'), `id: dup\n${base}`);
    await writeFile(join(dir, 'dup2.yml'), `id: dup\n${base}`);
    const err = await invalidAsync(() =>
      loadRules({ builtin: false, files: [join(dir, 'dup1.yml'), join(dir, 'dup2.yml')] }),
    );
    expect(err.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
    expect(err.detail).toContain(`${join(dir, 'dup2.yml')}: rule dup: id: also defined in ${join(dir, 'dup1.yml')}`);
    const missing = await invalidAsync(() => parseRuleFile(join(dir, 'nope.yml')));
    expect(missing.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
    expect(missing.detail).toContain('ENOENT');
  });

  it("lets a user rule replace a built-in rule of the same id (the user's wins)", async () => {
    const file = join(dir, 'brute.yml');
    await writeFile(
      file,
      `id: pg-brute-force\ntitle: Stricter brute force\nseverity: critical\nattack: [T1110.001]\n` +
        `match: { type: auth.login_failed }\ngroup_by: [user]\nwindow: 1m\nthreshold: { count: 3 }\n`,
    );
    const rules = await loadRules({ files: [file] });
    const rule = rules.find((r) => r.id === 'pg-brute-force');
    expect(rule).toMatchObject({ title: 'Stricter brute force', severity: 'critical', origin: file });
    expect(rules.filter((r) => r.id === 'pg-brute-force')).toHaveLength(1);
    const ev = eventFactory();
    const events = [0, 1, 2].map((i) =>
      ev({ type: 'auth.login_failed', time: t0 + i * sec, user: 'alice', fields: {} }),
    );
    expect(firedRules(feed(new RuleEngine({ rules }), events))).toEqual(['pg-brute-force']);
  });

  it('applies overrides of threshold, window, severity and suppression', async () => {
    const engine = await packEngine({
      overrides: { 'pg-brute-force': { threshold: { count: 3 }, window: '1m', severity: 'critical', suppress: '15m' } },
    });
    const ev = eventFactory();
    const events = [0, 1, 2].map((i) =>
      ev({ type: 'auth.login_failed', time: t0 + i * 10 * sec, user: 'alice', addr: '203.0.113.9', fields: {} }),
    );
    const [fire, ...rest] = fires(feed(engine, events));
    expect(rest).toEqual([]);
    expect(fire?.rule).toMatchObject({ id: 'pg-brute-force', severity: 'critical', suppressSeconds: 900 });
    expect(fire?.summary).toBe('3 failed logins for alice from 203.0.113.9 within 1 min');
    // Three failures over two minutes are outside the overridden one-minute window.
    const slow = [0, 1, 2].map((i) =>
      ev({ type: 'auth.login_failed', time: t0 + i * 61 * sec, user: 'bob', addr: '203.0.113.9', fields: {} }),
    );
    expect(fires(feed(engine, slow))).toEqual([]);
  });

  it('disables rules by id, keeping them listed', async () => {
    const rules = await loadRules({ disable: ['pg-brute-force'], overrides: { 'pg-mass-read': { enabled: false } } });
    expect(rules.find((r) => r.id === 'pg-brute-force')?.enabled).toBe(false);
    expect(rules.find((r) => r.id === 'pg-mass-read')?.enabled).toBe(false);
    const engine = new RuleEngine({ rules });
    const enabledByDefault = (await loadRules()).filter((r) => r.enabled).length;
    expect(engine.stats().rules).toBe(enabledByDefault - 2);
    const ev = eventFactory();
    const events = Array.from({ length: 12 }, (_, i) =>
      ev({ type: 'auth.login_failed', time: t0 + i * sec, user: 'alice', addr: '203.0.113.9', fields: {} }),
    );
    expect(fires(feed(engine, events))).toEqual([]);
  });

  it('refuses overrides and disables naming no rule, and invalid override values', async () => {
    const unknown = await invalidAsync(() => loadRules({ disable: ['pg-brute-forse'] }));
    expect(unknown.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
    expect(unknown.detail).toContain('pg-brute-forse: no loaded rule has this id');
    const noRule = await invalidAsync(() => loadRules({ overrides: { nope: { window: '1m' } } }));
    expect(noRule.detail).toContain('nope: no loaded rule has this id');
    const [rule] = await loadRules({ builtin: true });
    const bad = invalid(() => applyOverride(rule!, { window: 'soon' }));
    expect(bad.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
    expect(bad.detail).toContain(`overrides.${rule!.id}.window`);
    const extra = invalid(() => applyOverride(rule!, { match: {} } as never));
    expect(extra.detail).toContain('match');
  });

  it('refuses duplicate ids handed straight to the engine', async () => {
    const [rule] = parseRules(`id: a\n${base}`, 'one.yml');
    const err = invalid(() => new RuleEngine({ rules: [rule!, rule!] }));
    expect(err.code).toBe(ErrorCodes.MONITOR_RULE_INVALID);
  });
});
