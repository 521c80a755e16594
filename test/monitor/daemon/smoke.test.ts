import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/index.js';
import { withClient } from '../../../src/db/index.js';
import type { MonitorDaemonEvent } from '../../../src/monitor/daemon.js';
import { type MonitorServer, startMonitorServer } from '../../../src/monitor/monitor-server.js';
import { installedDatabase } from '../../helpers/db.js';

describe('monitor daemon', () => {
  let server: MonitorServer;
  const events: MonitorDaemonEvent[] = [];
  let db: Awaited<ReturnType<typeof installedDatabase>>;
  beforeAll(async () => {
    db = await installedDatabase();
    const config = configSchema.parse({ monitor: { serverLog: 'off', pollIntervalMs: 200, statsIntervalMs: 0 } });
    server = await startMonitorServer({
      config,
      connection: db,
      cwd: '/tmp',
      secrets: () => 'x',
      port: 0,
      onEvent: (e) => events.push(e),
    });
  });
  afterAll(async () => {
    await server?.close();
  });
  it('raises one brute-force alert', async () => {
    await withClient(db, async (c) => {
      for (let i = 0; i < 12; i++)
        await c.query(
          `select logs.log_event('auth.login_failed', 'notice', 'u-1', null, null, '{"reason":"password"}'::jsonb)`,
        );
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !events.some((e) => e.kind === 'monitor-alert'))
      await new Promise((r) => setTimeout(r, 100));
    console.log(events.map((e) => JSON.stringify(e)).join('\n'));
    expect(events.some((e) => e.kind === 'monitor-alert')).toBe(true);
  });
});
