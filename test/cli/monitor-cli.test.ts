import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type ConnectionConfig, withClient } from '../../src/db/client.js';
import { installedDatabase } from '../helpers/db.js';
import { failedLogins, hooks } from '../monitor/daemon/harness.js';
import { type HttpReceiver, httpReceiver, waitUntil } from '../monitor/helpers/receivers.js';
import { type LoggingCluster, startLoggingCluster } from '../monitor/server-log/logging-cluster.js';
import { cliEnv, finished, runCli, spawnCli, tempCwd, urlOf, waitForLine } from './run-cli.js';

// `pgwarden monitor …` as a user runs it, the built binary: `replay` over server logs captured
// from a real cluster, the daemon's start and SIGTERM, the dead-man's switch (M-13) alerting
// through a webhook when the monitor is killed, and the alert lifecycle commands.
let cwd: string;
let remove: () => Promise<void>;
let env: NodeJS.ProcessEnv;
let logs: LoggingCluster;
let db: ConnectionConfig;
let url: string;
let receiver: HttpReceiver;
const MAX_AGE = 3;

/** Copies the newest log file of each format, once the server wrote `failures` failed logins to it. */
async function capture(name: string, failures: number): Promise<void> {
  for (const ext of ['.json', '.csv']) {
    const files = (await readdir(logs.logDir)).filter((f) => f.endsWith(ext)).sort();
    const file = join(logs.logDir, files.at(-1)!);
    await waitUntil(
      async () => (await readFile(file, 'utf8')).split('password authentication failed').length - 1 === failures,
      15_000,
      `${failures} failed logins in ${file}`,
    );
    await copyFile(file, join(cwd, `${name}${ext}`));
  }
}

async function wrongPassword(): Promise<void> {
  const client = new pg.Client({ ...logs.conn, user: 'alice', password: 'wrong-pw', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect().then(
    () => Promise.reject(new Error('the wrong password was accepted')),
    () => undefined,
  );
}

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
  receiver = await httpReceiver();
  db = await installedDatabase();
  url = urlOf(db);
  env = cliEnv({ HOOK_SECRET: 'hook-secret' });
  await writeFile(
    join(cwd, 'pgwarden.config.json'),
    JSON.stringify({
      monitor: {
        serverLog: 'off',
        statsIntervalMs: 0,
        pollIntervalMs: 200,
        heartbeatIntervalMs: 500,
        sinks: [{ name: 'hook', kind: 'webhook', url: `${receiver.url}/hook`, secret: 'env:HOOK_SECRET' }],
      },
    }),
  );
  // Server logs of a real cluster: clean, 9 failed logins of alice, then 10.
  logs = await startLoggingCluster('monitor-cli');
  await withClient(logs.conn, (c) => c.query(`create role alice login password 'right-pw'`));
  await capture('clean', 0);
  for (let i = 0; i < 9; i++) await wrongPassword();
  await capture('nine', 9);
  await wrongPassword();
  await capture('ten', 10);
}, 120_000);
afterAll(async () => {
  await logs?.own.remove();
  await receiver?.close();
  await remove?.();
});

interface ReplayJson {
  format: string;
  records: number;
  incidents: { rule: string; events: number; group: Record<string, string>; severity: string }[];
}

describe('pgwarden monitor replay', () => {
  it.each([
    ['ten.json', 'jsonlog'],
    ['ten.csv', 'csvlog'],
  ])('finds the brute force in %s and exits 1 [M-01]', async (file, format) => {
    const r = await runCli(['monitor', 'replay', file, '--json'], { cwd, env });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as ReplayJson;
    expect(result.format).toBe(format);
    expect(result.incidents.filter((i) => i.rule === 'pg-brute-force')).toMatchObject([
      { events: 10, severity: 'high', group: { user: 'alice', addr: '127.0.0.1' } },
    ]);
  });

  it.each(['clean.json', 'nine.json', 'nine.csv'])('finds nothing in %s and exits 0 [M-01]', async (file) => {
    const r = await runCli(['monitor', 'replay', file, '--json'], { cwd, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as ReplayJson;
    expect(result.records).toBeGreaterThan(0);
    expect(result.incidents).toEqual([]);
  });

  it('refuses an unknown --format with a usage error (exit 2, PW001)', async () => {
    const r = await runCli(['monitor', 'replay', 'ten.json', '--format', 'xml', '--json'], { cwd, env });
    expect(r.code).toBe(2);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('PW001');
  });
});

/** Starts `pgwarden monitor --json --port 0`; resolves with the process and its monitor-ready line. */
async function startMonitor() {
  const child = spawnCli(['monitor', '--json', '--port', '0', '--database-url', url], { cwd, env });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const done = finished(child, 60_000);
  const line = await waitForLine(child, (l) => l.includes('"monitor-ready"'), 30_000);
  return { child, done, ready: JSON.parse(line) as { kind: string; url: string; sinks: string[]; rules: number } };
}

const heartbeatHooks = () => hooks(receiver.requests).filter((h) => h.rule === 'monitor-heartbeat');

describe('pgwarden monitor', () => {
  it('starts, answers /live and /ready, and exits 0 on SIGTERM', async () => {
    const { child, done, ready } = await startMonitor();
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // --port 0 picks a free port rather than the default 8788.
    expect(new URL(ready.url).port).not.toBe('8788');
    expect(ready.sinks).toEqual(['hook']);
    expect(ready.rules).toBeGreaterThanOrEqual(30);
    expect((await fetch(`${ready.url}/live`)).status).toBe(200);
    expect((await fetch(`${ready.url}/ready`)).status).toBe(200);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('hook-secret');
  });

  it("alerts through the watchdog's sink within max-age + 5 s of the monitor being killed [M-13]", async () => {
    const first = await startMonitor();
    let r = await runCli(
      ['monitor', 'watchdog', '--once', '--max-age', String(MAX_AGE), '--json', '--database-url', url],
      {
        cwd,
        env,
      },
    );
    expect([r.code, JSON.parse(r.stdout)]).toMatchObject([0, { kind: 'monitor-heartbeat', stale: false }]);

    const watchdog = spawnCli(['monitor', 'watchdog', '--max-age', String(MAX_AGE), '--database-url', url], {
      cwd,
      env,
    });
    onTestFinished(() => {
      if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    });
    const watchdogDone = finished(watchdog, 60_000);
    const started = await waitForLine(watchdog, (l) => l.startsWith('watchdog:'), 30_000);
    expect(started).toContain(`older than ${MAX_AGE} s`);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // a check or two while the monitor beats
    expect(heartbeatHooks()).toEqual([]);

    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.done;
    await waitUntil(() => heartbeatHooks().length > 0, (MAX_AGE + 15) * 1000, "the watchdog's alert");
    const after = (Date.now() - killedAt) / 1000;
    expect(after).toBeGreaterThan(MAX_AGE - 1); // stale only once the last beat is max-age old
    expect(after).toBeLessThan(MAX_AGE + 5);
    expect(heartbeatHooks().map((h) => [h.action, h.status, h.signed])).toEqual([['trigger', 200, true]]);

    r = await runCli(['monitor', 'watchdog', '--once', '--max-age', String(MAX_AGE), '--json', '--database-url', url], {
      cwd,
      env,
    });
    expect([r.code, JSON.parse(r.stdout)]).toMatchObject([1, { kind: 'monitor-heartbeat', stale: true }]);

    // A monitor beating again: the watchdog resolves its alert (a webhook hears lifecycle changes).
    const second = await startMonitor();
    await waitUntil(() => heartbeatHooks().length > 1, 15_000, "the watchdog's resolve");
    expect(heartbeatHooks().map((h) => h.action)).toEqual(['trigger', 'resolve']);
    watchdog.kill('SIGTERM');
    second.child.kill('SIGTERM');
    expect((await watchdogDone).code).toBe(0);
    expect((await second.done).code).toBe(0);
  }, 60_000);
});

describe('pgwarden monitor alerts | ack | resolve', () => {
  it('lists the alert and moves it to acknowledged and resolved; a second resolve fails with PW600', async () => {
    const { child, done } = await startMonitor();
    await withClient(db, (c) => failedLogins(c, 'cli-victim@example.test', 12));
    type Listed = { id: string; ruleId: string; status: string; eventCount: number; group: Record<string, string> };
    const list = async (status = 'open,acknowledged') => {
      const r = await runCli(['monitor', 'alerts', '--status', status, '--json', '--database-url', url], { cwd, env });
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as Listed[]).filter((a) => a.group.user === 'cli-victim@example.test');
    };
    await waitUntil(async () => (await list()).some((a) => a.eventCount === 12), 20_000, 'the alert');
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const [alert] = await list();
    expect(alert).toMatchObject({ ruleId: 'pg-brute-force', status: 'open', eventCount: 12 });

    const cli = (...args: string[]) => runCli(['monitor', ...args, '--json', '--database-url', url], { cwd, env });
    let r = await cli('ack', alert!.id, '--note', 'looking into it');
    expect(r.code).toBe(0);
    expect((await list())[0]?.status).toBe('acknowledged');
    r = await cli('resolve', alert!.id, '--actor', 'dana');
    expect(r.code).toBe(0);
    expect(await list()).toEqual([]);
    expect((await list('resolved'))[0]).toMatchObject({ id: alert!.id, status: 'resolved' });
    r = await cli('resolve', alert!.id);
    expect(r.code).not.toBe(0);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('PW600');
  }, 60_000);
});
