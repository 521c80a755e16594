import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExportedRecord } from '../../src/audit/export/index.js';
import { initLedger } from '../../src/audit/ledger/index.js';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';
import { streamCollector } from '../helpers/collectors.js';

// `pgwarden audit export` through the built binary (run `npm run build` first).
let db: ConnectionConfig;
let cwd: string;
let removeCwd: () => Promise<void>;
let size: number;

beforeAll(async () => {
  db = await installedDatabase();
  ({ dir: cwd, remove: removeCwd } = await tempCwd());
  const c = new pg.Client(db);
  await c.connect();
  try {
    await c.query(`create table public.orders (id int primary key, card text, total numeric);
                   select audit.enable('public.orders', '{}', '{card}')`);
    await c.query(`insert into public.orders select g, 'card-' || g, g * 1.5 from generate_series(1, 6) g`);
    const masterKey = parseMasterKey(generateMasterKey());
    await initLedger(c, { masterKey, hybrid: false });
    size = await sealAll(c, masterKey);
  } finally {
    await c.end();
  }
});
afterAll(async () => {
  await removeCwd?.();
});

const exportCli = (args: string[]) => runCli(['audit', 'export', ...args, '--database-url', urlOf(db)], { cwd });
const positions = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => checkExportedRecord(l).position);

describe('pgwarden audit export', () => {
  it('prints every sealed entry as a checkable JSON line, and the resume position on stderr', async () => {
    const r = await exportCli([]);
    expect(r.code).toBe(0);
    expect(positions(r.stdout)).toEqual([...Array(size).keys()]);
    expect(r.stdout).not.toContain('card-');
    expect(r.stderr.trim()).toBe(
      `Exported ${size} records (positions 0..${size - 1}) to stdout. Resume with --after ${size - 1}.`,
    );
  });

  it('pages with --after and --limit, resuming with no gap or repeat', async () => {
    const seen: number[] = [];
    let after: number | undefined;
    for (let run = 0; run < 20; run++) {
      const r = await exportCli([...(after === undefined ? [] : ['--after', String(after)]), '--limit', '4']);
      expect(r.code).toBe(0);
      const got = r.stdout.trim() ? positions(r.stdout) : [];
      if (got.length === 0) {
        expect(r.stderr).toContain(`No sealed entries after position ${after}`);
        break;
      }
      seen.push(...got);
      after = Number(/Resume with --after (\d+)/.exec(r.stderr)![1]);
    }
    expect(seen).toEqual([...Array(size).keys()]);
  });

  it('appends to --output (mode 0600) and prints a --json summary', async () => {
    const file = join(cwd, 'trail.jsonl');
    const first = await exportCli(['--limit', '3', '--output', 'trail.jsonl', '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      ok: true,
      format: 'jsonl',
      destination: file,
      exported: 3,
      firstPosition: 0,
      lastPosition: 2,
      skippedArchived: 0,
      resumeAfter: 2,
    });
    const second = await exportCli(['--after', '2', '--output', 'trail.jsonl', '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ exported: size - 3, resumeAfter: size - 1 });
    expect(positions(await readFile(file, 'utf8'))).toEqual([...Array(size).keys()]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('keeps stdout to records in --json mode, the summary going to stderr', async () => {
    const r = await exportCli(['--limit', '2', '--json']);
    expect(r.code).toBe(0);
    expect(positions(r.stdout)).toEqual([0, 1]);
    expect(JSON.parse(r.stderr)).toMatchObject({ ok: true, exported: 2, resumeAfter: 1 });
  });

  it('writes RFC 5424 syslog and CEF lines to stdout', async () => {
    const syslog = await exportCli(['--format', 'syslog', '--syslog-hostname', 'db-1', '--limit', '2']);
    expect(syslog.code).toBe(0);
    for (const line of syslog.stdout.trim().split('\n')) {
      expect(line).toMatch(
        /^<1[0-9]{2}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z db-1 pgwarden - [a-z_]+ \[pgwarden@32473 position="\d+" /,
      );
    }
    const cef = await exportCli(['--format', 'cef', '--limit', '2']);
    for (const line of cef.stdout.trim().split('\n'))
      expect(line).toMatch(/^CEF:0\|pgwarden\|pgwarden\|[0-9.]+\|[^|]+\|.+\|\d+\|cn1=\d+ cn1Label=ledgerPosition cs1=/);
  });

  it('sends syslog over TCP with octet counting to --syslog-host', async () => {
    const c = await streamCollector();
    try {
      const r = await exportCli([
        '--syslog-host',
        '127.0.0.1',
        '--syslog-port',
        String(c.port),
        '--syslog-transport',
        'tcp',
        '--format',
        'cef',
        '--syslog-facility',
        'local4',
        '--syslog-hostname',
        'db-1',
      ]);
      expect(r.stderr).toContain(`to tcp://127.0.0.1:${c.port}`);
      expect(r.code).toBe(0);
      const stream = c.received().toString('utf8');
      const frames: string[] = [];
      let rest = stream;
      while (rest.length > 0) {
        const m = /^([1-9][0-9]*) /.exec(rest);
        expect(m).not.toBeNull();
        const bytes = Buffer.from(rest.slice(m![0].length), 'utf8');
        frames.push(bytes.subarray(0, Number(m![1])).toString('utf8'));
        rest = bytes.subarray(Number(m![1])).toString('utf8');
      }
      expect(frames).toHaveLength(size);
      frames.forEach((f, i) => {
        expect(f).toMatch(
          new RegExp(`^<1[3-6][0-9]>1 \\S+ db-1 pgwarden - \\S+ \\[pgwarden@32473 position="${i}" .*\\] CEF:0\\|`),
        );
      });
    } finally {
      await c.close();
    }
  });

  it('refuses bad flags with PW423 (exit 1) before touching the database', async () => {
    const cases: [string[], RegExp][] = [
      [['--format', 'xml'], /unknown export format/],
      [['--limit', '0'], /--limit must be/],
      [['--after', '-3'], /--after must be/],
      [['--after', 'ten'], /--after must be/],
      [['--syslog-port', '514'], /--syslog-port needs --syslog-host/],
      [['--syslog-host', '127.0.0.1', '--syslog-transport', 'pigeon'], /unknown syslog transport/],
      [['--syslog-host', '127.0.0.1', '--format', 'jsonl'], /not sent to syslog/],
      [['--syslog-host', '127.0.0.1', '--output', 'x'], /both name a destination/],
      [['--syslog-host', '127.0.0.1', '--syslog-facility', 'local9'], /unknown syslog facility/],
      [['--syslog-host', '127.0.0.1', '--syslog-max-bytes', '100'], /--syslog-max-bytes must be/],
      [['--syslog-facility', 'authpriv'], /applies to syslog messages only/],
      [['--format', 'cef', '--syslog-hostname', 'db-1'], /applies to syslog messages only/],
    ];
    for (const [args, message] of cases) {
      const r = await exportCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^error PW423: /);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).toContain('hint:');
    }
  });

  it('refuses a collector that does not listen with PW423, never printing the database URL', async () => {
    const c = await streamCollector();
    await c.close();
    const r = await exportCli(['--syslog-host', '127.0.0.1', '--syslog-port', String(c.port), '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(out).toMatchObject({ ok: false, error: { code: 'PW423' } });
    expect(out.error.message).toContain('ECONNREFUSED');
    expect(r.stdout + r.stderr).not.toContain(String(db.password));
    expect(r.stdout + r.stderr).not.toContain('postgresql://');
  });
});
