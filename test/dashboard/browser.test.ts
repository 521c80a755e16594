import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectChromium, findChromium } from '../helpers/chromium.js';
import { type DashboardFixture, dashboardFixture } from './helpers/dashboard-fixture.js';

const chromiumPath = findChromium();

const hostileTitle = '<img src=x onerror=alert(1)>';
const hostileSummary = '</script><script>alert(2)</script>';

describe.skipIf(!chromiumPath && !expectChromium)('the dashboard in Chromium', () => {
  let browser: Browser;
  let d: DashboardFixture;
  let hostileId: number;
  let evidenceId: number;
  let admin: { email: string; password: string };
  let auditor: { email: string; password: string };

  beforeAll(async () => {
    if (!chromiumPath) {
      throw new Error(
        'Chromium is required (CI or PGWARDEN_EXPECT_CHROMIUM is set) but not installed: apt-get install chromium',
      );
    }
    [browser, d] = await Promise.all([
      chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] }),
      dashboardFixture(),
    ]);
    admin = await d.user('security_admin');
    auditor = await d.user('auditor');
    const [ev] = await d.f.sql<{ id: string }>(
      `select logs.log_event('auth.login_failed', 'warning', 'alice@example.test', 'app', 'acme', '{"reason":"password"}') as id`,
    );
    evidenceId = Number(ev!.id);
    hostileId = await d.alert({
      severity: 'critical',
      title: hostileTitle,
      summary: hostileSummary,
      evidence: [`sec:${evidenceId}`, 'log:pg-main:4096'],
      groupValues: { user: '<b>mallory</b>', addr: '203.0.113.9' },
    });
    await d.alert({ severity: 'high' });
    await d.alert({ severity: 'high', status: 'acknowledged' });
    await d.alert({ severity: 'low' });
    await d.f.sql(
      `insert into monitor.user_profiles (principal, profile, risk_score, risk_reasons) values
        ('<img src=x onerror=alert(3)>', '{}', 90, '["login at an unusual hour"]'),
        ('bob@example.test', '{}', 35, '[{"reason":"new source address","points":20}]')`,
    );
    await d.f.sql(
      `insert into compliance.scan_runs (started_at, target, database, server_version, tool_version, score, summary, report)
       values (now() - interval '2 days', 'db', 'app', '17', '0.1.0', 70, '{}', '{}'),
              (now() - interval '1 day', 'db', 'app', '17', '0.1.0', 82, '{}', '{}')`,
    );
  });
  afterAll(async () => {
    await browser?.close();
    await d?.close();
  });

  /** A fresh browser context (no cookies) with everything the page does recorded. */
  async function open(width = 1280) {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    const seen = { requests: [] as string[], dialogs: [] as string[], errors: [] as string[] };
    page.on('request', (r) => seen.requests.push(r.url()));
    page.on('dialog', (dialog) => {
      seen.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') seen.errors.push(m.text());
    });
    page.on('pageerror', (err) => seen.errors.push(err.message));
    const response = await page.goto(d.url);
    return { page, seen, response, close: () => context.close() };
  }

  async function signIn(page: Page, who: { email: string; password: string }) {
    await page.getByLabel('E-mail').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#overview-body [data-table="alerts-by-severity"]').waitFor();
  }

  const cell = (page: Page, severity: string, column: string) =>
    page.locator(`[data-table="alerts-by-severity"] tr[data-severity="${severity}"] td.${column}`).textContent();

  it('signs in, shows the overview with its charts, opens an alert with its evidence and acknowledges it', async () => {
    const { page, seen, response, close } = await open();
    expect(response!.headers()['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    await signIn(page, admin);
    expect([
      await cell(page, 'critical', 'open'),
      await cell(page, 'high', 'open'),
      await cell(page, 'high', 'acknowledged'),
    ]).toEqual(['1', '1', '1']);
    expect(await cell(page, 'low', 'open')).toBe('1');
    for (const chart of ['alerts-by-severity', 'events-per-minute', 'compliance-trend', 'risk-per-user'])
      expect(await page.locator(`svg[data-chart="${chart}"]`).count(), chart).toBe(1);
    const bar = page.locator('svg[data-chart="alerts-by-severity"] g[data-label="high"]');
    expect(await bar.getAttribute('data-value')).toBe('2');
    expect(await page.locator('svg[data-chart="events-per-minute"] circle').count()).toBe(60);
    expect(await page.locator('svg[data-chart="compliance-trend"] circle').count()).toBe(2);
    expect(await page.locator('[data-tile="Compliance score"] .tile-value').textContent()).toBe('82 / 100');
    expect(await page.locator('#who-role').textContent()).toBe('security admin');

    await page.getByRole('button', { name: 'Alerts', exact: true }).click();
    await page.getByRole('button', { name: hostileTitle }).click();
    await expect.poll(() => page.locator('#alert-title').textContent()).toBe(hostileTitle);
    expect(await page.locator('#alert-detail .summary').textContent()).toBe(hostileSummary);
    const evidence = page.locator(`#alert-detail [data-evidence="sec:${evidenceId}"]`);
    expect(await evidence.locator('.event-type').textContent()).toBe('auth.login_failed');
    expect(await evidence.textContent()).toContain('alice@example.test');
    expect(await page.locator('#alert-detail [data-evidence="log:pg-main:4096"]').textContent()).toContain('reference');
    expect(await page.locator('#alert-detail dd', { hasText: '<b>mallory</b>' }).count()).toBe(1);

    await page.getByLabel('Note (optional)').fill('on it');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => page.locator('#alert-status').textContent()).toBe('acknowledged');
    expect(await page.locator('#alert-detail .history').textContent()).toContain(
      `open → acknowledged by ${admin.email}`,
    );
    expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Resolve' }).count()).toBe(1);
    await expect
      .poll(() => page.locator(`tr[data-alert-row="${hostileId}"] td.status`).textContent())
      .toBe('acknowledged');
    const [row] = await d.f.sql<{ status: string; acknowledged_by: string }>(
      'select status, acknowledged_by from monitor.alerts where id = $1',
      [hostileId],
    );
    expect(row).toEqual({ status: 'acknowledged', acknowledged_by: admin.email });

    // hostile text stayed text: nothing ran, nothing was injected, nothing was fetched for it
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('#alert-detail b').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
    const origin = new URL(d.url).origin;
    expect(seen.requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(seen.requests.some((u) => u.endsWith('/x'))).toBe(false);
    await close();
  });

  it('shows an auditor everything but no Acknowledge or Resolve button', async () => {
    const id = await d.alert({ severity: 'medium', title: 'Auditor sees this' });
    const { page, seen, close } = await open();
    await signIn(page, auditor);
    expect(await page.locator('#who-role').textContent()).toBe('auditor (read only)');
    await page.getByRole('button', { name: 'Alerts', exact: true }).click();
    await page.getByRole('button', { name: 'Auditor sees this' }).click();
    await expect.poll(() => page.locator('#alert-title').textContent()).toBe('Auditor sees this');
    expect(await page.locator(`tr[data-alert-row="${id}"]`).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Resolve' }).count()).toBe(0);
    expect(await page.getByLabel('Note (optional)').count()).toBe(0);
    expect(seen.errors).toEqual([]);
    await close();
  });

  it('shows users by risk with their reasons and the timeline, then signs out', async () => {
    const { page, seen, close } = await open();
    await signIn(page, auditor);
    await page.getByRole('button', { name: 'Users', exact: true }).click();
    const risky = page.locator('[data-table="users"] tr').filter({ hasText: '<img src=x onerror=alert(3)>' });
    await risky.waitFor();
    expect(await risky.textContent()).toContain('login at an unusual hour');
    expect(await page.locator('[data-table="users"] tr', { hasText: 'bob@example.test' }).textContent()).toContain(
      'new source address (+20)',
    );
    expect(await page.locator('svg[data-chart="user-risk"] g.bar').count()).toBe(2);
    await page.getByRole('button', { name: 'Timeline', exact: true }).click();
    await page.locator('#timeline-list li[data-kind="alert"]').first().waitFor();
    expect(
      await page.locator('#timeline-list li[data-kind="event"]', { hasText: 'auth.login_failed' }).count(),
    ).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.locator('#login-error').textContent()).toBe('Signed out.');
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.locator('img').count()).toBe(0);
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
    await close();
  });

  it('shows a wrong password as the generic message, without a console error', async () => {
    const { page, seen, close } = await open();
    await page.getByLabel('E-mail').fill(admin.email);
    await page.getByLabel('Password').fill('definitely wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toBe('invalid e-mail or password');
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    // Chromium itself logs every 4xx answer to fetch ("Failed to load resource … 401"); the page logs nothing
    expect(seen.errors.filter((e) => !/^Failed to load resource: .* status of 401/.test(e))).toEqual([]);
    await close();
  });

  for (const width of [1280, 800]) {
    it(`fits ${width} px without sideways scrolling, on the overview and the alerts`, async () => {
      const { page, close } = await open(width);
      await signIn(page, admin);
      const fits = () => page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
      expect(await fits()).toBe(true);
      await page.getByRole('button', { name: 'Alerts', exact: true }).click();
      await page.locator('#alert-list table').waitFor();
      await page.locator('#alert-list button.link').first().click();
      await page.locator('#alert-title').waitFor();
      expect(await fits()).toBe(true);
      expect(await page.getByRole('button', { name: 'Overview' }).isVisible()).toBe(true);
      await close();
    });
  }
});
