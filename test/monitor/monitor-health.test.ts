import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { withClient } from '../../src/db/index.js';
import type { MonitorDaemonEvent } from '../../src/monitor/daemon.js';
import type { MonitorEvent } from '../../src/monitor/event.js';
import { type MonitorServer, startMonitorServer } from '../../src/monitor/monitor-server.js';
import { loadRules, RuleEngine } from '../../src/monitor/rules/index.js';
import { installedDatabase } from '../helpers/db.js';

const event = (type: string, source: MonitorEvent['source'], fields: MonitorEvent['fields'] = {}): MonitorEvent => ({
  id: `x:${type}`,
  source,
  type,
  time: 1_000,
  severity: 'warning',
  fields,
});

describe("the monitor's own health rules", () => {
  it('raise an alert for a dead delivery, skipped events and notification-queue pressure', async () => {
    const engine = new RuleEngine({ rules: await loadRules(), clock: () => 1_000 });
    const fired = (e: MonitorEvent) => engine.process(e).map((s) => s.rule.id);
    expect(fired(event('monitor.delivery_dead', 'security-event', { sink: 'hook' }))).toEqual([
      'pg-monitor-delivery-dead',
    ]);
    expect(fired(event('monitor.events_skipped', 'monitor', { from: 5, to: 7 }))).toEqual([
      'pg-monitor-events-skipped',
    ]);
    expect(fired(event('monitor.notify_queue_pressure', 'monitor', { usage: 0.6 }))).toEqual([
      'pg-monitor-notify-pressure',
    ]);
    // The analytics' and sources' event names are not accepted from an ordinary writer.
    expect(fired(event('monitor.events_skipped', 'security-event'))).toEqual([]);
  });
});

describe('a delivery the sink refuses for good', () => {
  let receiver: Server;
  let server: MonitorServer;
  const events: MonitorDaemonEvent[] = [];
  let db: Awaited<ReturnType<typeof installedDatabase>>;
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    db = await installedDatabase();
    const port = (receiver.address() as AddressInfo).port;
    const config = configSchema.parse({
      monitor: {
        serverLog: 'off',
        pollIntervalMs: 200,
        statsIntervalMs: 0,
        sinks: [{ name: 'hook', kind: 'webhook', url: `http://127.0.0.1:${port}/`, secret: 'env:HOOK' }],
      },
    });
    server = await startMonitorServer({
      config,
      connection: db,
      cwd: '/tmp',
      secrets: () => 'hook-secret-value',
      port: 0,
      onEvent: (e) => events.push(e),
    });
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((done) => receiver?.close(done));
  });

  it('becomes a security event and an alert of its own, with no secret in either', async () => {
    await withClient(db, async (c) => {
      for (let i = 0; i < 10; i++)
        await c.query(
          `select logs.log_event('auth.login_failed', 'notice', 'u-9', null, null, '{"reason":"password"}')`,
        );
    });
    const deadline = Date.now() + 20_000;
    const raised = () => events.some((e) => e.kind === 'monitor-alert' && e.rule === 'pg-monitor-delivery-dead');
    while (Date.now() < deadline && !raised()) await new Promise((r) => setTimeout(r, 100));
    expect(raised()).toBe(true);
    const rows = await withClient(db, async (c) => {
      const r = await c.query<{ severity: string; details: Record<string, unknown> }>(
        `select severity, details from logs.notification_log where event_type = 'monitor.delivery_dead'`,
      );
      return r.rows;
    });
    expect(rows[0]).toMatchObject({ severity: 'error', details: { sink: 'hook', action: 'trigger' } });
    expect(JSON.stringify(rows)).not.toContain('hook-secret-value');
  });
});
