import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Baseline, scanDatabase } from '../../src/check/index.js';
import { renderComplianceReport } from '../../src/check/compliance-report.js';
import { readHistory, type SavedScan, saveScan } from '../../src/check/history.js';
import type { ScanReport } from '../../src/check/types.js';
import { type ConnectionConfig, quoteIdent, withClient } from '../../src/db/client.js';
import { uninstall } from '../../src/install/index.js';
import { emptyDatabase, installedDatabase } from '../helpers/db.js';

// The scan history (sql/compliance, src/check/history.ts) and the auditors' report rendered from
// it, against real databases: round trip, grants per role, append-only rows, escaping.

const at = (iso: string) => () => new Date(iso);
const scan = (db: ConnectionConfig, name: string, when: string, baseline?: Baseline) =>
  scanDatabase(db, { only: ['pgwarden'], name, now: at(when), ...(baseline ? { baseline } : {}) });

/** Runs `fn` on a superuser client switched to `role` (rolled back afterwards). */
async function as<T>(client: pg.Client, role: string, fn: () => Promise<T>): Promise<T> {
  await client.query(`set role ${role}`);
  try {
    return await fn();
  } finally {
    await client.query('reset role');
  }
}

describe('where the compliance module is not installed', () => {
  it('refuses to read or save history with PW504', async () => {
    const db = await emptyDatabase();
    const report = await scan(db, 'empty', '2026-01-01T00:00:00Z');
    await withClient(db, async (c) => {
      await expect(readHistory(c)).rejects.toMatchObject({ code: 'PW504' });
      await expect(saveScan(c, report)).rejects.toMatchObject({ code: 'PW504' });
    });
    expect(() => renderComplianceReport([], 'html')).toThrow(expect.objectContaining({ code: 'PW504' }));
  });
});

describe('saveScan and readHistory', () => {
  let db: ConnectionConfig;
  let admin: pg.Client;
  let first: ScanReport;
  beforeAll(async () => {
    db = await installedDatabase();
    admin = new pg.Client(db);
    await admin.connect();
  });
  afterAll(async () => admin?.end());

  it('reports PW504 before any scan was saved', async () => {
    await expect(readHistory(admin)).rejects.toMatchObject({
      code: 'PW504',
      message: 'No scan was saved in this database',
    });
  });

  it('saves a report with one row per finding and reads it back whole, with a sealed digest event', async () => {
    first = await scan(db, 'prod', '2026-01-05T10:00:00Z');
    const { runId } = await saveScan(admin, first);
    const [run] = await readHistory(admin);
    expect(run).toMatchObject({
      id: runId,
      target: 'prod',
      startedAt: '2026-01-05T10:00:00.000Z',
      score: first.summary.score,
    });
    expect(run!.report).toEqual(JSON.parse(JSON.stringify(first)));
    const { rows } = await admin.query(
      `select check_id, severity, object, status from compliance.scan_findings where run_id = $1 order by ordinal`,
      [runId],
    );
    const findings = first.results.flatMap((r) => r.findings);
    expect(findings.length).toBeGreaterThan(0);
    expect(rows).toEqual(
      findings.map((f) => ({ check_id: f.checkId, severity: f.severity, object: f.object ?? null, status: 'open' })),
    );
    const event = await admin.query(
      `select e.details->>'report_sha256' = encode(sha256(convert_to(r.report::text, 'UTF8')), 'hex') as matches
         from logs.notification_log e join compliance.scan_runs r on r.id = (e.details->>'run_id')::bigint
        where e.event_type = 'compliance.scan_saved' and r.id = $1`,
      [runId],
    );
    expect(event.rows).toEqual([{ matches: true }]);
  });

  it('returns runs newest first, filtered by target and limited', async () => {
    await saveScan(admin, await scan(db, 'staging', '2026-01-06T10:00:00Z'));
    await saveScan(admin, await scan(db, 'prod', '2026-01-07T10:00:00Z'));
    expect((await readHistory(admin)).map((r) => [r.target, r.startedAt.slice(0, 10)])).toEqual([
      ['prod', '2026-01-07'],
      ['staging', '2026-01-06'],
      ['prod', '2026-01-05'],
    ]);
    expect((await readHistory(admin, { target: 'prod', limit: 1 })).map((r) => r.startedAt)).toEqual([
      '2026-01-07T10:00:00.000Z',
    ]);
    await expect(readHistory(admin, { target: 'nowhere' })).rejects.toMatchObject({ code: 'PW504' });
  });

  it('allows the auditor to read the history, and denies an app role', async () => {
    expect(await as(admin, 'pgw_auditor', () => readHistory(admin))).toHaveLength(3);
    await expect(as(admin, 'pgw_app_user', () => readHistory(admin))).rejects.toMatchObject({ sqlState: '42501' });
    await expect(as(admin, 'pgw_anon', () => readHistory(admin))).rejects.toMatchObject({ sqlState: '42501' });
  });

  it('allows security_admin to save a scan, and denies the auditor and app roles saving', async () => {
    await as(admin, 'pgw_security_admin', () => saveScan(admin, first));
    await expect(as(admin, 'pgw_auditor', () => saveScan(admin, first))).rejects.toMatchObject({ sqlState: '42501' });
    await expect(as(admin, 'pgw_app_user', () => saveScan(admin, first))).rejects.toMatchObject({ sqlState: '42501' });
    const { rows } = await admin.query(`select saved_by from compliance.scan_runs order by id desc limit 1`);
    expect(rows[0].saved_by).toBe(db.user);
  });

  it('denies security_admin and the owner changing or removing saved runs, and refuses a superuser (PW421)', async () => {
    for (const role of ['pgw_security_admin', 'pgw_owner']) {
      for (const stmt of [
        'update compliance.scan_runs set score = 100',
        'delete from compliance.scan_runs',
        'update compliance.scan_findings set status = $$suppressed$$',
        'delete from compliance.scan_findings',
        'truncate compliance.scan_findings, compliance.scan_runs',
      ]) {
        await expect(
          as(admin, role, () => admin.query(stmt)),
          `${role}: ${stmt}`,
        ).rejects.toMatchObject({ code: '42501' });
      }
    }
    await expect(admin.query('update compliance.scan_runs set score = 100')).rejects.toMatchObject({ code: 'PW421' });
    await expect(admin.query('delete from compliance.scan_findings')).rejects.toMatchObject({ code: 'PW421' });
    await expect(admin.query('truncate compliance.scan_runs cascade')).rejects.toMatchObject({ code: 'PW421' });
  });

  it('refuses an uninstall that would delete saved scans unless --purge (PW214)', async () => {
    await expect(uninstall(admin, { rolePrefix: 'pgw_' })).rejects.toMatchObject({
      code: 'PW214',
      message: expect.stringMatching(/saved compliance scan/),
    });
    expect((await admin.query('select count(*)::int as n from compliance.scan_runs')).rows[0].n).toBeGreaterThan(0);
  });
});

describe('renderComplianceReport', () => {
  // Markup, Markdown table and emphasis syntax, and a right-to-left override that would reorder the text.
  const hostile = '<img src=x onerror=alert(1)>|*x*\u202e';
  const reason = '<script>alert("w")</script> accepted until the ledger ships';
  let history: SavedScan[];
  let scores: number[];

  beforeAll(async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      await c.query(`create schema api; grant usage on schema api to pgw_anon`);
      await c.query(`create table api.${quoteIdent(hostile)} (id int primary key)`);
      await c.query(`alter table api.${quoteIdent(hostile)} enable row level security`);
      await c.query('alter event trigger pgwarden_ddl_end_1_record disable');
      await saveScan(c, await scan(db, 'prod', '2026-01-05T10:00:00Z'));
      await c.query('alter event trigger pgwarden_ddl_end_1_record enable always');
      await saveScan(c, await scan(db, 'prod', '2026-02-05T10:00:00Z'));
      // The third scan accepts the uninitialised ledger for a while, as a login that cannot see
      // credentials or keys: those checks become "not evaluated".
      const auditor = `hist_auditor_${randomBytes(4).toString('hex')}`;
      await c.query(`create role ${auditor} login password 'pw-auditor' in role pgw_auditor`);
      const waiver: Baseline = {
        version: 1,
        accepted: [],
        waivers: [{ check: 'PGW-004', object: 'ledger.state', reason, expires: '2026-03-31' }],
      };
      const asAuditor = { ...db, user: auditor, password: 'pw-auditor' };
      await saveScan(c, await scan(asAuditor, 'prod', '2026-03-05T10:00:00Z', waiver));
      history = await readHistory(c, { target: 'prod' });
    });
    scores = [...history].reverse().map((r) => r.score);
  });

  it('builds three runs whose scores differ', () => {
    expect(history).toHaveLength(3);
    expect(new Set(scores).size).toBe(3);
    expect(scores[0]).toBeLessThan(scores[1]!);
    expect(scores[1]).toBeLessThan(scores[2]!);
  });

  it('renders the Markdown trend, findings, waivers, unevaluated checks and family pass rates, escaping names', () => {
    const md = renderComplianceReport(history, 'markdown', { title: 'Q1 review' });
    const runs = [...history].reverse();
    const trend = runs.map((r, i) => {
      const change = i === 0 ? '' : `${r.score - runs[i - 1]!.score > 0 ? '+' : ''}${r.score - runs[i - 1]!.score}`;
      return `| ${r.id} | ${r.startedAt} | ${r.score} | ${change} |`;
    });
    let from = 0;
    for (const line of trend) {
      const at = md.indexOf(line, from);
      expect(at, line).toBeGreaterThan(from);
      from = at;
    }
    expect(md).toContain('# Q1 review');
    expect(md).toContain('As of 2026-03-05T10:00:00.000Z; 3 saved scan(s).');
    expect(md).toContain('#### Medium (1)\n\n- **PGW-002** Row audit covers tenant data, and its capture works — api.');
    expect(md).toContain('api."\\<img src=x onerror=alert(1)\\>\\|\\*x\\*\ufffd"');
    expect(md).not.toContain('\u202e');
    // Outside fenced SQL (shown literally), no unescaped tag.
    const prose = md.replace(/^ *(`{3,})sql\n[\s\S]*?^ *\1$/gm, '');
    expect(prose).not.toMatch(/(?<!\\)<(img|script)/);
    // The statement stays runnable: the override character is an escape of the literal, not a replacement.
    expect(md).toContain('  ```sql\n  select audit.enable(E\'api."<img src=x onerror=alert(1)>|*x*\\u202e"\');\n  ```');
    expect(md).toContain(
      '| PGW-004 | ledger.state | waiver | \\<script\\>alert("w")\\</script\\> accepted until the ledger ships | 2026-03-31 |',
    );
    expect(md).toMatch(/\| PGW-006 \| .* \| not evaluated \| insufficient privilege/);
    expect(md).toContain('| pgwarden | 4 | 3 | 75% | 3 |');
    const later = renderComplianceReport(history, 'markdown', { now: new Date('2026-04-15T00:00:00Z') });
    expect(later).toContain('| 2026-03-31 **EXPIRED** |');
  });

  it('renders a self-contained HTML page with an SVG trend line, a strict CSP and every value escaped', () => {
    const html = renderComplianceReport(history, 'html', { title: 'Q1 <review>' });
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    );
    expect(html).toContain('<title>Q1 &#60;review&#62;</title>');
    expect(html).toContain(`aria-label="Score trend: ${scores.join(', ')}"`);
    const points = /<polyline [^>]*points="([^"]+)"/.exec(html)?.[1]?.split(' ') ?? [];
    expect(points).toHaveLength(3);
    // Higher scores are drawn higher (smaller y).
    const ys = points.map((p) => Number(p.split(',')[1]));
    expect(ys[0]).toBeGreaterThan(ys[1]!);
    expect(ys[1]).toBeGreaterThan(ys[2]!);
    expect(html).toContain(`<code>api.&#34;&#60;img src=x onerror=alert(1)&#62;|*x*\ufffd&#34;</code>`);
    // Nothing to fetch or run: no element that loads or executes anything.
    expect(html).not.toMatch(/<(img|script|link|iframe|object|embed)\b/i);
    expect(html).not.toContain('url(');
    expect(html).not.toContain('\u202e');
    expect(html).toContain('&#60;script&#62;alert(&#34;w&#34;)&#60;/script&#62;');
  });

  it('gives the same output for the same history, in whatever order it is passed', () => {
    for (const format of ['html', 'markdown'] as const) {
      expect(renderComplianceReport([...history].reverse(), format)).toBe(renderComplianceReport(history, format));
    }
  });
});
