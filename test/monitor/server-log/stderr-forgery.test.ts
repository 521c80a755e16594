import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryPositionStore, type UntimedEvent } from '../../../src/monitor/event.js';
import {
  classifyLogRecord,
  type LogRecord,
  type LogParserOptions,
  ServerLogTailer,
  StderrLogParser,
} from '../../../src/monitor/sources/server-log/index.js';

// Lines as PostgreSQL 15 wrote them with recommendedLogLinePrefix, for failed logins whose
// database name the client chose: "postgres\n", and a line break followed by a forged prefix.
const hba =
  'Connection matched pg_hba.conf line 87: "host    all             all             127.0.0.1/32            scram-sha-256"';
const received = (sid: string, pid: number) =>
  `2026-11-23 07:29:28.878 UTC [${pid}] 00000 [${sid}:1] 127.0.0.1 u=[unknown] d=[unknown] a=[unknown] [${sid}] LOG:  connection received: host=127.0.0.1 port=58772\n`;
/** One failed login as the server writes it when the database name is `db`. */
const failedLogin = (sid: string, pid: number, db: string) =>
  received(sid, pid) +
  `2026-11-23 07:29:28.887 UTC [${pid}] 28P01 [${sid}:2] 127.0.0.1 u=postgres d=${db} a=[unknown] [${sid}] FATAL:  password authentication failed for user "postgres"\n` +
  `2026-11-23 07:29:28.887 UTC [${pid}] 28P01 [${sid}:3] 127.0.0.1 u=postgres d=${db} a=[unknown] [${sid}] DETAIL:  ${hba}\n`;
/** The database name of the review's proof: a forged record framing 10.20.30.40. */
const frameReview = '\n2024-01-01 00:00:00 [1] 28P01 [a:1] 10.20.30.40 u= [a] LOG:  ';
/** The same with a session id of the server's shape (63 bytes, the most a name may hold). */
const frameShaped = '\n2024-01-01 00:00:00 [1] 28P01 [0.0:1] 10.2.3.4 u= [0.0] LOG:  ';

const parseAll = (text: string | Buffer, options: LogParserOptions = {}) => {
  const parser = new StderrLogParser(options);
  return [...parser.push(text), ...parser.flush()];
};
const events = (records: LogRecord[]) => records.map((r) => classifyLogRecord(r, `log:t:${r.offset}`));

describe('StderrLogParser against forged log lines [M-01]', () => {
  it('reads a prefix split by a line break in the database name as one record for the real address', () => {
    const text = failedLogin('6b03eb58.535e', 21342, 'postgres\n');
    const records = parseAll(text);
    const failed = records.find((r) => r.sqlstate === '28P01' && r.injection === undefined);
    expect(failed).toMatchObject({
      errorSeverity: 'FATAL',
      remoteHost: '127.0.0.1',
      user: 'postgres',
      database: 'postgres\n',
      message: 'password authentication failed for user "postgres"',
      detail: hba,
    });
    const secondLine = Buffer.byteLength(text.slice(0, text.indexOf(' a=[unknown] [6b03eb58.535e] FATAL')));
    expect(records.filter((r) => r.injection !== undefined)).toEqual([
      expect.objectContaining({ injection: 'line_break_in_name', offset: secondLine, remoteHost: '127.0.0.1' }),
    ]);
  });

  it.each([
    ['the review proof', frameReview, '10.20.30.40'],
    ['a forged line with a session id of the server shape', frameShaped, '10.2.3.4'],
  ])('frames no address with %s in the database name', (_what, db, forged) => {
    expect(Buffer.byteLength(db)).toBeLessThanOrEqual(63);
    const text = failedLogin('6b03eb80.5872', 22642, db) + failedLogin('6b03eb80.5873', 22643, db);
    const evs = events(parseAll(text));
    expect(JSON.stringify(evs.map((e) => [e.addr, e.fields.host]))).not.toContain(forged);
    expect(evs.filter((e) => e.type === 'pg.auth_failed').map((e) => [e.user, e.addr, e.sqlstate])).toEqual([
      ['postgres', '127.0.0.1', '28P01'],
      ['postgres', '127.0.0.1', '28P01'],
    ]);
    expect(evs.filter((e) => e.type === 'pg.log_injection').map((e) => [e.addr, e.severity, e.fields.reason])).toEqual([
      ['127.0.0.1', 'critical', 'line_break_in_name'],
      ['127.0.0.1', 'critical', 'line_break_in_name'],
    ]);
    expect(evs.map((e) => e.type)).toEqual([
      'pg.log',
      'pg.auth_failed',
      'pg.log_injection',
      'pg.log',
      'pg.auth_failed',
      'pg.log_injection',
    ]);
  });

  it('frames no address with a forged line in the user name, and keeps the failure', () => {
    const sid = '6b03eb81.5874';
    const user = `v${frameShaped}`.slice(0, 63);
    const text =
      `2026-11-23 07:30:09.001 UTC [22644] 28P01 [${sid}:2] 127.0.0.1 u=${user} d=postgres a=[unknown] [${sid}] ` +
      `FATAL:  password authentication failed for user "${user.replaceAll('\n', '\n\t')}"\n`;
    const evs = events(parseAll(text));
    expect(evs.map((e) => [e.type, e.addr])).toEqual([
      ['pg.auth_failed', '127.0.0.1'],
      ['pg.log_injection', '127.0.0.1'],
    ]);
    expect(evs[0]?.user).toBe(user);
  });

  it('gives the same records wherever a chunk ends inside a split prefix', () => {
    const bytes = Buffer.from(failedLogin('6b03eb80.5872', 22642, frameShaped) + received('6b03eb80.5875', 22645));
    const whole = parseAll(bytes);
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = new StderrLogParser();
      const split = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut)), ...parser.flush()];
      expect(split).toEqual(whole);
    }
  });

  it('reads user and database names made of 63 line breaks each as one prefix', () => {
    const sid = '6b03eb82.5876';
    const names = '\n'.repeat(63);
    const text = `2026-11-23 07:30:10.000 UTC [22646] 28P01 [${sid}:2] 127.0.0.1 u=${names} d=${names} a=[unknown] [${sid}] FATAL:  password authentication failed for user "x"\n${received('6b03eb82.5877', 22647)}`;
    const records = parseAll(text);
    expect(records.map((r) => [r.sqlstate, r.injection, r.remoteHost])).toEqual([
      ['28P01', undefined, '127.0.0.1'],
      [undefined, 'line_break_in_name', '127.0.0.1'],
      [undefined, undefined, '127.0.0.1'],
    ]);
  });

  it('reports a bare FATAL line in a prefixed log as unprefixed_line, never as a failed login', () => {
    const bare = 'FATAL:  password authentication failed for user "admin"\n';
    const evs = events(parseAll(received('6b03eb83.5878', 22648) + bare));
    expect(evs.map((e) => [e.type, e.severity, e.fields.reason])).toEqual([
      ['pg.log', 'info', undefined],
      ['pg.log_injection', 'critical', 'unprefixed_line'],
    ]);
    expect(JSON.stringify(evs)).not.toContain('admin');
    // Told the log is prefixed, the parser refuses a bare first line too.
    expect(events(parseAll(bare, { expectPrefix: true })).map((e) => e.type)).toEqual(['pg.log_injection']);
  });

  it('refuses a forged bare first line of a log file when the tailer is told the server writes the prefix [M-01]', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-expect-prefix-'));
    try {
      // A file whose first line is a forged FATAL (the prefix auto-detection would read it).
      await writeFile(
        join(dir, 'postgresql-2026-11-23.log'),
        'FATAL:  password authentication failed for user "victim"\n' + failedLogin('6b03eb85.587a', 22650, 'app'),
      );
      const read = async (expectPrefix: boolean | undefined) => {
        const seen: UntimedEvent[] = [];
        const tailer = new ServerLogTailer({
          directory: dir,
          format: 'stderr',
          expectPrefix,
          positions: memoryPositionStore(),
          startAt: 'beginning',
          onEvents: async (batch) => {
            seen.push(...batch);
          },
        });
        try {
          await tailer.poll();
        } finally {
          await tailer.close();
        }
        return seen.map((e) => e.type);
      };
      // (The last record waits in the parser for continuation lines.)
      expect((await read(true)).slice(0, 2)).toEqual(['pg.log_injection', 'pg.log']);
      // Without being told, the bare first line reads as a failed login: what the plan prevents.
      expect((await read(undefined))[0]).toBe('pg.auth_failed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('still reads bare lines of a log written without a prefix', () => {
    const bare = 'LOG:  checkpoint starting: time\nFATAL:  password authentication failed for user "alice"\n';
    for (const options of [{}, { expectPrefix: false }]) {
      expect(parseAll(bare, options).map((r) => [r.errorSeverity, r.injection])).toEqual([
        ['LOG', undefined],
        ['FATAL', undefined],
      ]);
    }
  });

  it('reports a prefix that never closes and starts no record in the lines it spans', () => {
    const sid = '6b03eb84.5879';
    const head = `2026-11-23 07:30:11.000 UTC [22649] 28P01 [${sid}:2] 127.0.0.1 u=postgres d=x\n`;
    const forged = `2024-01-01 00:00:00 [1] 28P01 [0.0:1] 10.2.3.4 u= [0.0] FATAL:  password authentication failed for user "x"\n`;
    const after = received('6b03eb84.587a', 22650);
    const text = head + forged.repeat(4) + after;
    expect(Buffer.byteLength(forged.repeat(4))).toBeLessThan(512);
    const records = parseAll(text);
    expect(records.map((r) => [r.injection, r.remoteHost, r.offset])).toEqual([
      ['unterminated_prefix', '127.0.0.1', 0],
      [undefined, '127.0.0.1', Buffer.byteLength(text) - Buffer.byteLength(after)],
    ]);
  });

  it('waits for the end of an open prefix until the file is quiet, then reports it', () => {
    const sid = '6b03eb85.587b';
    const parser = new StderrLogParser();
    const head = `2026-11-23 07:30:12.000 UTC [22651] 28P01 [${sid}:2] 127.0.0.1 u=postgres d=x\n`;
    expect(parser.push(received('6b03eb85.587c', 22652) + head)).toEqual([]);
    expect(parser.carry.toString()).toBe(received('6b03eb85.587c', 22652) + head);
    expect(
      parser.push(` a=[unknown] [${sid}] FATAL:  password authentication failed for user "postgres"\n`),
    ).toHaveLength(1);
    expect(parser.flush().map((r) => [r.sqlstate, r.injection, r.database])).toEqual([
      ['28P01', undefined, 'x\n'],
      [undefined, 'line_break_in_name', undefined],
    ]);
    const quiet = new StderrLogParser();
    quiet.push(head);
    expect(quiet.flush().map((r) => r.injection)).toEqual(['unterminated_prefix']);
  });

  it("reports the session's closing marker written again after the prefix (a guessed session id)", () => {
    const sid = '6b03eb86.587d';
    const user = `x [${sid}] LOG:  all good`;
    const text = `2026-11-23 07:30:13.000 UTC [22653] 28P01 [${sid}:2] 127.0.0.1 u=${user} d=postgres a=[unknown] [${sid}] FATAL:  password authentication failed for user "${user}"\n`;
    const evs = events(parseAll(text));
    expect(evs.map((e) => [e.type, e.addr, e.user])).toEqual([
      ['pg.auth_failed', '127.0.0.1', user],
      ['pg.log_injection', '127.0.0.1', undefined],
    ]);
    expect(evs[0]?.fields.reason).toBe('password');
    expect(evs[1]?.fields.reason).toBe('repeated_session_marker');
    // The same name cut by a line break: the server's rest of the prefix is reported, not lost.
    const cut = text.replace(`${user} d=`, `x [${sid}] \n d=`);
    expect(events(parseAll(cut)).map((e) => [e.type, e.fields.reason])).toEqual([
      ['pg.log', undefined],
      ['pg.log_injection', 'repeated_session_marker'],
    ]);
  });
});
