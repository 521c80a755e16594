import { copyFile, readdir, rename, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPositionStore, type PositionStore, type UntimedEvent } from '../../../src/monitor/event.js';
import { type LogFormat, ServerLogTailer } from '../../../src/monitor/sources/server-log/index.js';
import { type LoggingCluster, startLoggingCluster, until } from './logging-cluster.js';

// F-08 on a real server: sequence-numbered statements (log_statement = all) across 20 rotations
// of the three log files: size-based and forced rotations by the server itself, then logrotate's
// rename+create (followed by pg_rotate_logfile, as `pg_ctl logrotate` does) and copytruncate,
// with every tailer closed and restarted from its saved position half-way.
let env: LoggingCluster;
let client: pg.Client;
const formats: LogFormat[] = ['jsonlog', 'csvlog', 'stderr'];
const extension: Record<LogFormat, string> = { jsonlog: '.json', csvlog: '.csv', stderr: '.log' };

beforeAll(async () => {
  env = await startLoggingCluster('srvlog-rot', {
    log_statement: 'all',
    log_connections: 'off',
    log_disconnections: 'off',
    log_filename: 'pg-%H%M%S.log',
    log_rotation_size: '8kB',
    log_rotation_age: '0',
  });
  client = new pg.Client(env.conn);
  await client.connect();
}, 120_000);
afterAll(async () => {
  await client?.end().catch(() => undefined);
  await env?.own.remove();
});

const seqOf = (events: readonly UntimedEvent[]) =>
  events
    .map((e) => /^select 'seq-(\d+)'$/.exec(e.statement ?? '')?.[1])
    .filter((s) => s !== undefined)
    .map(Number);

interface Follower {
  format: LogFormat;
  positions: PositionStore;
  events: UntimedEvent[];
  tailer: ServerLogTailer;
}

function follow(format: LogFormat, positions: PositionStore, events: UntimedEvent[]): Follower {
  const tailer = new ServerLogTailer({
    directory: env.logDir,
    format,
    positions,
    startAt: 'beginning',
    onEvents: async (batch) => {
      events.push(...batch);
    },
  });
  return { format, positions, events, tailer };
}

describe('ServerLogTailer across rotations of a real server', () => {
  it('loses and repeats no statement across 20 rotations and a restart [F-08]', async () => {
    let followers = formats.map((f) => follow(f, memoryPositionStore(), []));
    let n = 0;
    const statements = async (count: number) => {
      for (let i = 0; i < count; i++) await client.query(`select 'seq-${String(++n).padStart(5, '0')}'`);
    };
    /** Polls every tailer until each has seen statement `n` (the daemon polls every 250 ms). */
    const caughtUp = async () => {
      for (const f of followers) {
        const ok = await until(async () => (await f.tailer.poll(), seqOf(f.events).at(-1) === n));
        expect({ format: f.format, rotations, caughtUp: ok }).toEqual({ format: f.format, rotations, caughtUp: true });
      }
    };
    const live = async (format: LogFormat) => {
      const names = (await readdir(env.logDir)).filter((name) => name.endsWith(extension[format])).sort();
      return join(env.logDir, names.at(-1) ?? '');
    };
    let rotations = 0;
    const rotated = async (what: () => Promise<void>) => {
      await statements(20);
      await caughtUp();
      await what();
      rotations++;
    };

    // Rotations by the server: a new file name needs a new second in log_filename.
    for (let i = 0; i < 2; i++) {
      await rotated(async () => {
        await sleep(1_100);
        await statements(120); // > 8 kB: size-based rotation
      });
      await rotated(async () => {
        await sleep(1_100);
        await client.query('select pg_catalog.pg_rotate_logfile()');
      });
    }
    await client.query(`alter system set log_filename = 'postgresql.log'`);
    await client.query(`alter system set log_rotation_size = 0`);
    await client.query('select pg_catalog.pg_reload_conf()');
    await rotated(() => client.query('select pg_catalog.pg_rotate_logfile()').then(() => undefined));

    // Rotations by logrotate on a fixed file name.
    for (let i = 0; rotations < 20; i++) {
      if (i % 2 === 0) {
        await rotated(async () => {
          for (const f of formats) {
            const file = join(env.logDir, `postgresql${extension[f]}`);
            await rename(file, `${file}.${i}`);
          }
          await statements(5); // still written to the renamed files
          await client.query('select pg_catalog.pg_rotate_logfile()');
        });
      } else {
        await rotated(async () => {
          for (const f of formats) {
            const file = await live(f);
            await copyFile(file, `${file}.${i}.copy`);
            await truncate(file, 0);
          }
        });
      }
      if (rotations === 10) {
        for (const f of followers) await f.tailer.close();
        followers = followers.map((f) => follow(f.format, f.positions, f.events));
      }
    }
    await statements(20);
    await caughtUp();
    for (const f of followers) await f.tailer.close();

    const all = Array.from({ length: n }, (_, i) => i + 1);
    for (const f of followers) {
      expect({ format: f.format, seq: seqOf(f.events) }).toEqual({ format: f.format, seq: all });
      expect(new Set(f.events.map((e) => e.id)).size).toBe(f.events.length);
    }
    expect(rotations).toBe(20);
    const files = await readdir(env.logDir);
    expect(files.filter((name) => /^pg-\d{6}\.json$/.test(name)).length).toBeGreaterThanOrEqual(5);
    expect(files.filter((name) => name.endsWith('.copy')).length).toBeGreaterThan(0);
  }, 120_000);
});
