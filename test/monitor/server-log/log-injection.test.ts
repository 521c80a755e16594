import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../../src/db/client.js';
import { normaliseUser } from '../../../src/monitor/event.js';
import { type ReplayResult, replayLog } from '../../../src/monitor/replay.js';
import { loadRules, type Rule } from '../../../src/monitor/rules/index.js';
import {
  classifyLogRecord,
  createLogParser,
  type LogFormat,
  logFileExtension,
} from '../../../src/monitor/sources/server-log/index.js';
import { type LoggingCluster, startLoggingCluster, until } from './logging-cluster.js';

// A cluster of this file's own with the recommended log settings; clients put line breaks and
// forged prefixes into the database and user names of failed logins, and the stderr log the
// server wrote goes through the real parsers and the built-in rules.
let env: LoggingCluster;
let rules: Rule[];
const END_MARKER = 'end_of_injection_traffic';
const ATTEMPTS = 12;
/** The review's proof: a record framing 10.20.30.40 after a line break. */
const frameReview = '\n2024-01-01 00:00:00 [1] 28P01 [a:1] 10.20.30.40 u= [a] LOG:  ';
/** The same with a session id of the server's shape (63 bytes: the most a name may hold). */
const frameShaped = '\n2024-01-01 00:00:00 [1] 28P01 [0.0:1] 10.2.3.4 u= [0.0] LOG:  ';

async function failLogin(user: string, database: string): Promise<void> {
  const client = new pg.Client({ ...env.conn, user, database, password: 'wrong-password' });
  client.on('error', () => undefined);
  await client.connect().catch(() => undefined);
  await client.end().catch(() => undefined);
}

async function logFiles(format: LogFormat): Promise<string[]> {
  const names = await readdir(env.logDir);
  return names
    .filter((n) => n.endsWith(logFileExtension[format]))
    .sort()
    .map((n) => join(env.logDir, n));
}

/** Records of every log file of `format`, classified as the monitor does. */
async function eventsOf(format: LogFormat) {
  const out = [];
  for (const file of await logFiles(format)) {
    const parser = createLogParser(format);
    const records = [...parser.push(await readFile(file)), ...parser.flush()];
    out.push(...records.map((r) => classifyLogRecord(r, `log:${file}:${r.offset}`)));
  }
  return out;
}

async function replay(format: LogFormat): Promise<ReplayResult['incidents']> {
  const incidents: ReplayResult['incidents'] = [];
  for (const file of await logFiles(format)) incidents.push(...(await replayLog(file, { rules, format })).incidents);
  return incidents;
}

beforeAll(async () => {
  env = await startLoggingCluster('loginj');
  rules = await loadRules();
  for (let i = 0; i < ATTEMPTS; i++) await failLogin(env.conn.user, `${env.conn.database}\n`);
  for (let i = 0; i < ATTEMPTS; i++) await failLogin(env.conn.user, frameReview);
  for (let i = 0; i < ATTEMPTS; i++) await failLogin(env.conn.user, frameShaped);
  for (let i = 0; i < ATTEMPTS; i++) await failLogin(`v${frameShaped}`.slice(0, 63), env.conn.database);
  await withClient(env.conn, (c) => c.query(`select * from ${END_MARKER}`).catch(() => undefined));
  const written = async (format: LogFormat) => {
    const events = await eventsOf(format);
    return events.some((e) => e.message?.includes(END_MARKER));
  };
  expect(await until(async () => (await written('stderr')) && (await written('jsonlog')))).toBe(true);
}, 120_000);
afterAll(async () => {
  await env?.own.remove();
});

describe('the stderr log of a real server against names with line breaks [M-01]', () => {
  it('counts every failed login for the real address, in stderr as in jsonlog', async () => {
    for (const format of ['stderr', 'jsonlog'] as const) {
      const failed = (await eventsOf(format)).filter((e) => e.type === 'pg.auth_failed');
      expect(failed, format).toHaveLength(4 * ATTEMPTS);
      expect(new Set(failed.map((e) => e.addr))).toEqual(new Set(['127.0.0.1']));
    }
  });

  it('frames no address: 10.20.30.40 and 10.2.3.4 appear in no event', async () => {
    const events = await eventsOf('stderr');
    const addresses = new Set(events.map((e) => e.addr ?? e.fields.host));
    expect(addresses.has('10.20.30.40')).toBe(false);
    expect(addresses.has('10.2.3.4')).toBe(false);
    expect(events.filter((e) => e.sqlstate === '28P01' && e.type !== 'pg.auth_failed')).toEqual([]);
  });

  it('raises the same brute-force incident from stderr as from jsonlog on replay', async () => {
    const bruteForce = async (format: LogFormat) =>
      (await replay(format))
        .filter((i) => i.rule === 'pg-brute-force')
        .map((i) => [i.group.user, i.group.addr, i.events]);
    const json = await bruteForce('jsonlog');
    // The user of the last run is a name with a line break: an account of its own.
    expect(json).toEqual([
      [env.conn.user, '127.0.0.1', 3 * ATTEMPTS],
      [normaliseUser(`v${frameShaped}`.slice(0, 63)), '127.0.0.1', ATTEMPTS],
    ]);
    expect(await bruteForce('stderr')).toEqual(json);
  });

  it('reports the forgery as one critical pg-log-injection incident for the real address', async () => {
    const injections = (await eventsOf('stderr')).filter((e) => e.type === 'pg.log_injection');
    // One report per failed login: the FATAL record carries the split prefix (its DETAIL too).
    expect(injections).toHaveLength(4 * ATTEMPTS);
    expect(new Set(injections.map((e) => `${e.addr} ${e.severity} ${e.fields.reason}`))).toEqual(
      new Set(['127.0.0.1 critical line_break_in_name']),
    );
    const incidents = (await replay('stderr')).filter((i) => i.rule === 'pg-log-injection');
    expect(incidents.map((i) => [i.severity, i.group.addr, i.summary])).toEqual([
      ['critical', '127.0.0.1', 'forged server-log lines from 127.0.0.1'],
    ]);
    expect((await replay('jsonlog')).some((i) => i.rule === 'pg-log-injection')).toBe(false);
  });
});
