import { describe, expect, it } from 'vitest';
import {
  CsvLogParser,
  JsonLogParser,
  type LogParser,
  type LogRecord,
  LogTimestampParser,
  StderrLogParser,
} from '../../../src/monitor/sources/server-log/index.js';

// Lines as PostgreSQL 17 wrote them (log_line_prefix = recommendedLogLinePrefix for stderr).
const csv = [
  '2026-11-23 06:49:27.889 UTC,"alice","postgres",24438,"127.0.0.1:49210",6b03e1f7.5f76,2,"authentication",2026-11-23 06:49:27 UTC,1/1,0,FATAL,28P01,"password authentication failed for user ""alice""","Connection matched file ""/tmp/x/pg_hba.conf"" line 116: ""host all all 127.0.0.1/32 scram-sha-256""",,,,,,,,"","client backend",,0',
  '2026-11-23 06:49:27.932 UTC,"alice","postgres",24442,"127.0.0.1:49260",6b03e1f7.5f7a,9,"SELECT",2026-11-23 06:49:27 UTC,5/8,0,ERROR,22P02,"invalid input syntax for type integer: ""a\nb""",,,,,,"select \'a\nb\' + 1",8,,"app1","client backend",,0',
  '2026-11-23 06:49:27.766 UTC,,,24429,,6b03e1f7.5f6d,1,,2026-11-23 06:49:27 UTC,,0,LOG,00000,"starting PostgreSQL 17.10 on x86_64, compiled by gcc, 64-bit",,,,,,,,,"","postmaster",,0',
  '2026-11-23 06:49:28.100 UTC,"élodie","données",24450,"[local]",6b03e1f8.5f82,3,"idle",2026-11-23 06:49:28 UTC,7/2,0,LOG,00000,"statement: select \'çà\'",,,,,,,,,"psql","client backend",,0',
].map((l) => `${l}\n`);

const json = [
  '{"timestamp":"2026-11-23 06:49:27.889 UTC","user":"alice","dbname":"postgres","pid":24438,"remote_host":"127.0.0.1","remote_port":49210,"session_id":"6b03e1f7.5f76","line_num":2,"ps":"authentication","error_severity":"FATAL","state_code":"28P01","message":"password authentication failed for user \\"alice\\"","detail":"Connection matched file","backend_type":"client backend","query_id":0}',
  '{"timestamp":"2026-11-23 06:49:27.932 UTC","user":"alice","dbname":"postgres","pid":24442,"remote_host":"127.0.0.1","session_id":"6b03e1f7.5f7a","line_num":9,"error_severity":"ERROR","state_code":"22P02","message":"invalid input syntax for type integer: \\"a\\nb\\"","statement":"select \'a\\nb\' + 1","cursor_position":8,"application_name":"app1","backend_type":"client backend"}',
  '{"timestamp":"2026-11-23 06:49:27.766 UTC","pid":24429,"session_id":"6b03e1f7.5f6d","line_num":1,"error_severity":"LOG","message":"starting PostgreSQL 17.10 on x86_64, compiled by gcc, 64-bit","backend_type":"postmaster","query_id":0}',
  '{"timestamp":"2026-11-23 06:49:28.100 UTC","user":"élodie","dbname":"données","pid":24450,"remote_host":"[local]","session_id":"6b03e1f8.5f82","line_num":3,"error_severity":"LOG","message":"statement: select \'çà\'","application_name":"psql","backend_type":"client backend"}',
].map((l) => `${l}\n`);

const p = (sid: string, line: number, user: string, app: string) =>
  `[${sid}:${line}] 127.0.0.1 u=${user} d=postgres a=${app} [${sid}]`;
const stderr = [
  `2026-11-23 06:49:27.889 UTC [24438] 28P01 ${p('6b03e1f7.5f76', 2, 'alice', '[unknown]')} FATAL:  password authentication failed for user "alice"\n` +
    `2026-11-23 06:49:27.889 UTC [24438] 28P01 ${p('6b03e1f7.5f76', 3, 'alice', '[unknown]')} DETAIL:  Connection matched file\n`,
  `2026-11-23 06:49:27.932 UTC [24442] 22P02 ${p('6b03e1f7.5f7a', 14, 'alice', 'app1')} ERROR:  invalid input syntax for type integer: "a\n\tb" at character 8\n` +
    `2026-11-23 06:49:27.932 UTC [24442] 22P02 ${p('6b03e1f7.5f7a', 15, 'alice', 'app1')} STATEMENT:  select 'a\n\tb' + 1\n`,
  '2026-11-23 06:49:27.766 UTC [24429] 00000 LOG:  starting PostgreSQL 17.10 on x86_64, compiled by gcc, 64-bit\n',
  `2026-11-23 06:49:28.100 UTC [24450] 00000 [6b03e1f8.5f82:3] [local] u=élodie d=données a=psql [6b03e1f8.5f82] LOG:  statement: select 'çà'\n`,
];

/** What the three formats must agree on (stderr's %q drops the session of background processes). */
const essentials = (r: LogRecord) => ({
  time: r.time,
  user: r.user,
  database: r.database,
  remoteHost: r.remoteHost,
  pid: r.pid,
  sessionId: r.remoteHost === undefined ? undefined : r.sessionId,
  errorSeverity: r.errorSeverity,
  sqlstate: r.sqlstate,
  message: r.message,
  statement: r.statement,
  application: r.application,
});

const expected = [
  {
    time: Date.parse('2026-11-23T06:49:27.889Z'),
    user: 'alice',
    database: 'postgres',
    remoteHost: '127.0.0.1',
    pid: 24438,
    sessionId: '6b03e1f7.5f76',
    errorSeverity: 'FATAL',
    sqlstate: '28P01',
    message: 'password authentication failed for user "alice"',
    statement: undefined,
    application: undefined,
  },
  {
    time: Date.parse('2026-11-23T06:49:27.932Z'),
    user: 'alice',
    database: 'postgres',
    remoteHost: '127.0.0.1',
    pid: 24442,
    sessionId: '6b03e1f7.5f7a',
    errorSeverity: 'ERROR',
    sqlstate: '22P02',
    message: 'invalid input syntax for type integer: "a\nb"',
    statement: "select 'a\nb' + 1",
    application: 'app1',
  },
  {
    time: Date.parse('2026-11-23T06:49:27.766Z'),
    user: undefined,
    database: undefined,
    remoteHost: undefined,
    pid: 24429,
    sessionId: undefined,
    errorSeverity: 'LOG',
    sqlstate: undefined,
    message: 'starting PostgreSQL 17.10 on x86_64, compiled by gcc, 64-bit',
    statement: undefined,
    application: undefined,
  },
  {
    time: Date.parse('2026-11-23T06:49:28.100Z'),
    user: 'élodie',
    database: 'données',
    remoteHost: '[local]',
    pid: 24450,
    sessionId: '6b03e1f8.5f82',
    errorSeverity: 'LOG',
    sqlstate: undefined,
    message: "statement: select 'çà'",
    statement: undefined,
    application: 'psql',
  },
];

/** Feeds `bytes` split at `cut` and returns every record with its offset. */
function parseSplit(make: () => LogParser, bytes: Buffer, cut: number): LogRecord[] {
  const parser = make();
  return [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut)), ...parser.flush()];
}

const formats: Array<[string, () => LogParser, string[]]> = [
  ['csvlog', () => new CsvLogParser(), csv],
  ['jsonlog', () => new JsonLogParser(), json],
  ['stderr', () => new StderrLogParser(), stderr],
];

describe.each(formats)('%s parser', (_name, make, lines) => {
  const bytes = Buffer.from(lines.join(''), 'utf8');
  const starts = lines.map((_, i) => Buffer.byteLength(lines.slice(0, i).join(''), 'utf8'));

  it('reads the records a real server wrote, multi-line texts and non-ASCII names included', () => {
    const parser = make();
    const records = [...parser.push(bytes), ...parser.flush()];
    expect(records.map(essentials)).toEqual(expected);
    expect(records.map((r) => r.offset)).toEqual(starts);
  });

  it('gives the same records and byte offsets wherever a chunk ends, inside quotes and characters too', () => {
    const whole = parseSplit(make, bytes, bytes.length);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(parseSplit(make, bytes, cut)).toEqual(whole);
    }
  });

  it('keeps a last line without its newline in carry, not emitted until complete', () => {
    const parser = make();
    const first = lines[0] ?? '';
    const partial = Buffer.from(lines[1] ?? '', 'utf8').subarray(0, 40);
    const out = [...parser.push(first), ...parser.push(partial), ...parser.flush()];
    expect(out).toHaveLength(1);
    expect(parser.carry.equals(partial)).toBe(true);
    expect(parser.carryOffset).toBe(Buffer.byteLength(first));
  });

  it('resumes from a saved carry and offset as if never stopped', () => {
    const cut = starts[1]! + 25;
    const before = make();
    const head = [...before.push(bytes.subarray(0, cut))];
    const Resumed = make().constructor as new (o: { startOffset: number }) => LogParser;
    const after = new Resumed({ startOffset: before.carryOffset });
    const tail = [...after.push(before.carry), ...after.push(bytes.subarray(cut)), ...after.flush()];
    expect([...head, ...tail]).toEqual(parseSplit(make, bytes, bytes.length));
  });

  it('skips the NUL padding a copytruncate can leave before new lines', () => {
    const parser = make();
    const padded = Buffer.concat([Buffer.alloc(7), Buffer.from(lines[2] ?? '')]);
    const records = [...parser.push(padded), ...parser.flush()];
    expect(records.map(essentials)).toEqual([expected[2]]);
    expect(records[0]?.offset).toBe(7);
  });
});

describe('StderrLogParser', () => {
  const line = (sid: string, app: string, tail: string) =>
    `2026-11-23 06:49:27.889 UTC [77] 28P01 [${sid}:2] 203.0.113.9 u=mallory d=postgres a=${app} [${sid}] ${tail}\n`;

  it('holds the last record until flush, since a continuation line may still follow', () => {
    const parser = new StderrLogParser();
    expect(parser.push(stderr[2] ?? '')).toEqual([]);
    expect(parser.flush().map((r) => r.message)).toEqual([expected[2]?.message]);
  });

  it("does not let a client's application name forge the severity or the message", () => {
    const forged = 'x [6b03e1f7.0001] LOG:  connection authorized: user=admin database=postgres';
    const parser = new StderrLogParser();
    const [record] = [
      ...parser.push(line('6b03e1f7.5f99', forged, 'FATAL:  password authentication failed for user "mallory"')),
      ...parser.flush(),
    ];
    expect(record).toMatchObject({
      errorSeverity: 'FATAL',
      sqlstate: '28P01',
      remoteHost: '203.0.113.9',
      message: 'password authentication failed for user "mallory"',
      application: forged,
    });
  });

  it("drops another process's DETAIL instead of attaching it to the pending record", () => {
    const parser = new StderrLogParser();
    const other = `2026-11-23 06:49:27.890 UTC [78] 00000 [6b03e1f7.4e:2] 127.0.0.1 u=bob d=postgres a=psql [6b03e1f7.4e] DETAIL:  not yours\n`;
    const records = [...parser.push(line('6b03e1f7.4d', 'psql', 'FATAL:  boom') + other), ...parser.flush()];
    expect(records).toHaveLength(1);
    expect(records[0]?.detail).toBeUndefined();
  });

  it('keeps a line in another format as a message-only record and reports it', () => {
    const reasons: string[] = [];
    const parser = new StderrLogParser({ onMalformed: (_o, reason) => reasons.push(reason) });
    const records = [...parser.push('sh: 1: cp: not found\n'), ...parser.flush()];
    expect(records).toEqual([{ offset: 0, errorSeverity: 'LOG', message: 'sh: 1: cp: not found' }]);
    expect(reasons).toHaveLength(1);
  });
});

describe('CsvLogParser', () => {
  it('reports and skips a record with too few columns', () => {
    const reasons: string[] = [];
    const parser = new CsvLogParser({ onMalformed: (_o, reason) => reasons.push(reason) });
    expect(parser.push('a,b,c\n' + (csv[2] ?? '')).map((r) => r.offset)).toEqual([6]);
    expect(reasons).toEqual(['a csvlog record with 3 columns']);
  });
});

describe('JsonLogParser', () => {
  it('reports and skips a line that is not JSON', () => {
    const reasons: number[] = [];
    const parser = new JsonLogParser({ onMalformed: (offset) => reasons.push(offset) });
    expect(parser.push('{oops\n' + (json[2] ?? '')).map((r) => r.offset)).toEqual([6]);
    expect(reasons).toEqual([0]);
  });
});

describe('LogTimestampParser', () => {
  it.each([
    ['2026-11-23 06:49:27.889 UTC', '2026-11-23T06:49:27.889Z'],
    ['2026-11-23 06:49:27 GMT', '2026-11-23T06:49:27.000Z'],
    ['2026-11-23 12:19:27.889 +0530', '2026-11-23T06:49:27.889Z'],
    ['2026-11-23 08:49:27.889 CEST', '2026-11-23T06:49:27.889Z'],
    ['2026-11-23 01:49:27.889 -05', '2026-11-23T06:49:27.889Z'],
  ])('reads %s', (text, iso) => {
    const t = new LogTimestampParser();
    expect(t.parse(text)).toBe(Date.parse(iso));
    expect(t.parse(text)).toBe(Date.parse(iso)); // the cached minute gives the same answer
  });

  it('gives undefined for an ambiguous zone abbreviation', () => {
    expect(new LogTimestampParser().parse('2026-11-23 06:49:27.889 IST')).toBeUndefined();
  });
});
