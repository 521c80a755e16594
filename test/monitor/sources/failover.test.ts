import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import type { LocalCluster } from '../../../src/db/embedded/index.js';
import { memoryPositionStore } from '../../../src/monitor/event.js';
import { connectPrimary } from '../../../src/monitor/sources/connect-primary.js';
import { SecurityEventSource } from '../../../src/monitor/sources/security-events.js';
import { rejected } from '../../helpers/errors.js';
import type { ThrowawayCluster } from '../../helpers/throwaway-cluster.js';
import { promote, startMonitorCluster, startStandby } from './cluster-tools.js';
import { collector, insertEvents, waitFor } from './helpers.js';

// A primary of its own and a streaming standby of it (two clusters: a failover needs both).
let primary: ThrowawayCluster & { port: number };
let standby: LocalCluster & { port: number };
let standbyDir: string;
let app: ConnectionConfig;
const host = '127.0.0.1';

beforeAll(async () => {
  primary = await startMonitorCluster('monitor-primary');
  standbyDir = await mkdtemp(join(tmpdir(), 'pgwarden-monitor-standby-'));
  standby = await startStandby(primary, standbyDir);
  app = { ...primary.connection, database: 'app' };
  // The standby has replayed the install once it holds the monitor's trigger.
  await waitFor('the standby to catch up', async () =>
    withClient({ ...app, port: standby.port }, async (c) => {
      const { rows } = await c.query(`select pg_catalog.to_regclass('monitor.heartbeats') is not null as ok`);
      return rows[0].ok === true;
    }),
  );
}, 180_000);
afterAll(async () => {
  await standby?.stop().catch(() => undefined);
  await rm(standbyDir, { recursive: true, force: true });
  await primary?.remove();
});

describe('connectPrimary [F-05]', () => {
  it('skips a standby and connects to the primary with read-write', async () => {
    const client = await connectPrimary({
      ...app,
      hosts: [
        { host, port: standby.port },
        { host, port: primary.port },
      ],
      targetSessionAttrs: 'read-write',
    });
    try {
      expect(client.port).toBe(primary.port);
      const { rows } = await client.query('select pg_catalog.pg_is_in_recovery() as r');
      expect(rows[0].r).toBe(false);
    } finally {
      await client.end();
    }
  });

  it('takes the first server that answers with any', async () => {
    const client = await connectPrimary({
      ...app,
      hosts: [
        { host, port: standby.port },
        { host, port: primary.port },
      ],
      targetSessionAttrs: 'any',
    });
    expect(client.port).toBe(standby.port);
    await client.end();
  });

  it('refuses with PW603 when only standbys answer read-write', async () => {
    const err = await rejected(
      connectPrimary({ ...app, hosts: [{ host, port: standby.port }], targetSessionAttrs: 'read-write' }),
    );
    expect(err.code).toBe('PW603');
    expect(err.detail).toContain(`${host}:${standby.port}`);
  });
});

describe('SecurityEventSource on replicas [F-05]', () => {
  it('fails loudly with PW603 when pointed at a standby', async () => {
    const c = collector();
    const source = new SecurityEventSource({
      connection: { ...app, port: standby.port },
      positions: memoryPositionStore(),
      onEvents: c.onEvents,
    });
    const err = await rejected(source.start());
    expect(err.code).toBe('PW603');
    expect((err.cause as Error).message).toMatch(/cannot execute LISTEN during recovery/);
    expect(source.status).toBe('failed');
    await source.close();
  });

  it('follows a failover to the promoted standby and misses nothing', async () => {
    const c = collector();
    const source = new SecurityEventSource({
      connection: {
        ...app,
        hosts: [
          { host, port: primary.port },
          { host, port: standby.port },
        ],
        targetSessionAttrs: 'read-write',
        connectTimeoutMs: 2_000,
      },
      positions: memoryPositionStore(),
      onEvents: c.onEvents,
      onState: c.onState,
      pollIntervalMs: 500,
      keepAliveMs: 300,
      reconnect: { initialMs: 100, maxMs: 500 },
      gaps: { graceMs: 200 },
    });
    await source.start();
    try {
      const before = await withClient(app, (cl) => insertEvents(cl, 3));
      await waitFor('events on the old primary', () => c.secIds().length >= 3);
      await primary.cluster.stop();
      await promote(standby);
      const after = await withClient({ ...app, port: standby.port }, (cl) => insertEvents(cl, 3));
      await waitFor('events on the new primary', () => after.every((id) => c.secIds().includes(id)), 30_000);
      expect(c.secIds()).toEqual([...before, ...after]);
      expect(c.states.find((s) => s.kind === 'reconnected')).toMatchObject({ port: standby.port });
    } finally {
      await source.close();
    }
  });
});
