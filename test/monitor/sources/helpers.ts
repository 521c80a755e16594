import { type AddressInfo, connect as connectTcp, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { UntimedEvent } from '../../../src/monitor/event.js';
import type { SourceStateEvent } from '../../../src/monitor/sources/source-state.js';

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Collects what a source hands over: events, and state changes. */
export function collector() {
  const events: UntimedEvent[] = [];
  const states: SourceStateEvent[] = [];
  return {
    events,
    states,
    onEvents: async (batch: UntimedEvent[]) => {
      events.push(...batch);
    },
    onState: (s: SourceStateEvent) => {
      states.push(s);
    },
    /** notification_log ids delivered, in delivery order. */
    secIds: () => events.filter((e) => e.source === 'security-event').map((e) => Number(e.id.slice('sec:'.length))),
    ofType: (type: string) => events.filter((e) => e.type === type),
  };
}

/** Inserts `n` events in one statement (one NOTIFY); returns their ids. */
export async function insertEvents(client: pg.ClientBase, n: number, type = 'test.event'): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>(
    `insert into logs.notification_log (event_type, severity, actor, details)
     select $2, 'info', 'user' || g, pg_catalog.jsonb_build_object('n', g) from pg_catalog.generate_series(1, $1) g
     returning id`,
    [n, type],
  );
  return rows.map((r) => Number(r.id));
}

/** Ids appearing more than once. */
export const duplicates = (ids: readonly number[]): number[] => ids.filter((id, i) => ids.indexOf(id) !== i);

/** True when `ids` is strictly increasing. */
export const increasing = (ids: readonly number[]): boolean => ids.every((id, i) => i === 0 || ids[i - 1]! < id);

/**
 * A TCP proxy on 127.0.0.1 that can go silent: `blackhole()` stops forwarding on every open and
 * new connection without closing anything (a cut cable, a dropped firewall state: no RST), and
 * `heal()` makes new connections work again (the silenced ones stay silent).
 */
export async function silentProxy(target: { host: string; port: number }) {
  let silent = false;
  const sockets = new Set<Socket>();
  const muted = new WeakSet<Socket>();
  const server = createServer((client) => {
    const upstream = connectTcp(target.port, target.host);
    const pair = [client, upstream] as const;
    for (const s of pair) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        for (const other of pair) other.destroy();
      });
      if (silent) muted.add(s);
    }
    client.on('data', (d: Buffer) => {
      if (!muted.has(client)) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!muted.has(client)) client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    blackhole: () => {
      silent = true;
      for (const s of sockets) muted.add(s);
    },
    heal: () => {
      silent = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
