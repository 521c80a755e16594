import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FleetProgress,
  parseFleet,
  parseTargets,
  readFleet,
  readTargets,
  scanFleet,
} from '../../src/check/fleet.js';
import type { CheckDefinition } from '../../src/check/types.js';
import { findFreePort } from '../../src/db/embedded/index.js';
import { adminConnection, emptyDatabase, installedDatabase } from '../helpers/db.js';
import { caught, rejected } from '../helpers/errors.js';

const admin = adminConnection();
const wrongPassword = 'Wrong-Canary-Fleet-7c1e';
const env = { FLEET_PW: admin.password, BAD_PW: wrongPassword };
let dbs: string[];
let closedPort: number;
let dir: string;

beforeAll(async () => {
  dbs = (await Promise.all([installedDatabase(), emptyDatabase(), emptyDatabase()])).map((c) => c.database!);
  closedPort = await findFreePort();
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-fleet-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Cheap checks of our own keep these tests about the fleet runner, not about the check catalog.
// A gated probe holds one database's scan until the test releases it.
const probe = (id: string, gate?: { database: string; until: Promise<void> }): CheckDefinition => ({
  id,
  family: 'cis',
  section: 'Fleet test',
  title: `probe ${id}`,
  severity: 'low',
  source: 'sql',
  rationale: 'test probe',
  remediation: 'none',
  evaluate: async (ctx) => {
    if (ctx.server.database === gate?.database) await gate.until;
    return { verdict: 'pass', evidence: { database: ctx.server.database, exposed: ctx.settings.exposedSchemas } };
  },
});

const hostTarget = (name: string, database: string, extra = '') =>
  `  - { name: ${name}, host: ${admin.host}, port: ${admin.port}, database: ${database}, user: ${admin.user}, passwordEnv: FLEET_PW${extra} }`;
const fleetYaml = (...lines: string[]) => `targets:\n${lines.join('\n')}\n`;

describe('scanFleet', () => {
  it('returns results in the file order whatever finishes first', async () => {
    const targets = parseTargets(
      fleetYaml(
        `  - name: slow\n    url: postgresql://${admin.user}@${admin.host}:${admin.port}/${dbs[0]}\n    passwordEnv: FLEET_PW`,
        hostTarget('second', dbs[1]!),
        hostTarget('third', dbs[2]!),
      ),
      'fleet.yaml',
      env,
    );
    const finished: string[] = [];
    let release = () => {};
    const until = new Promise<void>((resolve) => (release = resolve));
    const results = await scanFleet(targets, {
      checks: [probe('TST-1', { database: dbs[0]!, until })],
      concurrency: 3,
      onProgress: (p) => {
        if (p.kind === 'target-finished') finished.push(p.target);
        if (finished.length === 2) release();
      },
    });
    expect(finished.at(-1)).toBe('slow');
    expect(results.map((r) => r.target)).toEqual(['slow', 'second', 'third']);
    expect(results.map((r) => r.report?.results[0]?.evidence?.database)).toEqual(dbs);
    expect(results.map((r) => r.report?.target.name)).toEqual(['slow', 'second', 'third']);
  });

  it('reports an unreachable server, a refused login and a missing database by code and scans the rest', async () => {
    const targets = parseTargets(
      fleetYaml(
        hostTarget('down', dbs[0]!).replace(`port: ${admin.port}`, `port: ${closedPort}`),
        hostTarget('badpw', dbs[0]!).replace('FLEET_PW', 'BAD_PW'),
        hostTarget('nodb', 'no_such_database_here'),
        hostTarget('ok', dbs[1]!),
      ),
      'fleet.yaml',
      env,
    );
    const events: FleetProgress[] = [];
    const results = await scanFleet(targets, { checks: [probe('TST-1')], onProgress: (p) => events.push(p) });
    expect(results.map((r) => [r.target, r.error?.code ?? 'report'])).toEqual([
      ['down', 'PW110'],
      ['badpw', 'PW111'],
      ['nodb', 'PW112'],
      ['ok', 'report'],
    ]);
    expect(results[1]!.error!.hint).toContain('passwordEnv');
    expect(results[3]!.report!.summary.pass).toBe(1);
    const printed = JSON.stringify({ results, events });
    expect(printed).not.toContain(wrongPassword);
    expect(printed).not.toContain(admin.password);
  });

  it('never runs more scans at once than the concurrency, 4 by default, and counts progress to the total', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const targets = parseTargets(fleetYaml(...names.map((n, i) => hostTarget(n, dbs[i % 3]!))), 'fleet.yaml', env);
    for (const concurrency of [2, undefined]) {
      let running = 0;
      let peak = 0;
      const events: FleetProgress[] = [];
      await scanFleet(targets, {
        checks: [probe('TST-1')],
        ...(concurrency ? { concurrency } : {}),
        onProgress: (p) => {
          events.push(p);
          running += p.kind === 'target-started' ? 1 : -1;
          peak = Math.max(peak, running);
        },
      });
      expect(peak).toBe(concurrency ?? 4);
      expect(events.filter((e) => e.kind === 'target-started')).toHaveLength(6);
      expect(events.filter((e) => e.kind === 'target-finished').map((e) => e.done)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(events.every((e) => e.total === 6)).toBe(true);
    }
  });

  it('applies file defaults and per-target settings over the shared options', async () => {
    const { targets } = parseFleet(
      `defaults: { exposedSchemas: [api], concurrency: 2 }\ntargets:\n${hostTarget('plain', dbs[0]!)}\n${hostTarget('own', dbs[1]!, ', exposedSchemas: [public], only: [TST-2]')}\n`,
      'fleet.yaml',
      env,
    );
    const results = await scanFleet(targets, { checks: [probe('TST-1'), probe('TST-2')], exposedSchemas: ['ignored'] });
    expect(results[0]!.report!.results.map((r) => [r.id, r.evidence?.exposed])).toEqual([
      ['TST-1', ['api']],
      ['TST-2', ['api']],
    ]);
    expect(results[1]!.report!.results.map((r) => [r.id, r.evidence?.exposed])).toEqual([['TST-2', ['public']]]);
  });

  it('refuses an only/skip pattern that names no check before scanning anything [PW502]', async () => {
    const targets = parseTargets(
      fleetYaml(hostTarget('ok', dbs[0]!), hostTarget('typo', dbs[1]!, ', skip: [TST-9]')),
      'f',
      env,
    );
    const started: string[] = [];
    const err = await rejected(
      scanFleet(targets, { checks: [probe('TST-1')], onProgress: (p) => started.push(p.target) }),
    );
    expect(err.code).toBe('PW502');
    expect(err.message).toContain('target typo');
    expect(started).toEqual([]);
  });

  it('stops starting targets once aborted and reports them as interrupted [PW002]', async () => {
    const targets = parseTargets(fleetYaml(hostTarget('first', dbs[0]!), hostTarget('second', dbs[1]!)), 'f', env);
    const abort = new AbortController();
    const results = await scanFleet(targets, {
      checks: [probe('TST-1')],
      concurrency: 1,
      signal: abort.signal,
      onProgress: (p) => p.kind === 'target-started' && abort.abort(),
    });
    expect(results[0]!.report?.summary.pass).toBe(1);
    expect(results[1]!.error?.code).toBe('PW002');
  });
});

describe('parseTargets', () => {
  it('reads YAML and JSON into connections, with the password from passwordEnv, PGPASSWORD or neither', () => {
    const yaml = `defaults: { ssl: require }
targets:
  - name: billing-prod
    url: postgresql://scanner@db1.example:6543/billing?sslmode=verify-full&connect_timeout=3
    passwordEnv: BILLING_PW
  - { name: crm, host: db2.example, database: crm, user: scanner }
  - { name: ledger, host: db3.example, database: ledger, user: scanner, ssl: disable }
`;
    const [billing, crm, ledger] = parseTargets(yaml, 'fleet.yaml', { BILLING_PW: 's3cret', PGPASSWORD: 'from-pg' });
    expect(billing!.connection).toEqual({
      host: 'db1.example',
      port: 6543,
      user: 'scanner',
      database: 'billing',
      password: 's3cret',
      ssl: { rejectUnauthorized: true },
      connectionTimeoutMillis: 3000,
    });
    expect(billing!.description).toBe('postgresql://scanner@db1.example:6543/billing');
    expect(crm!.connection).toMatchObject({
      host: 'db2.example',
      port: 5432,
      password: 'from-pg',
      ssl: { rejectUnauthorized: false },
    });
    expect(ledger!.connection.ssl).toBe(false);
    const json = JSON.stringify({ targets: [{ name: 'crm', host: 'db2', database: 'crm', user: 'scanner' }] });
    const [fromJson] = parseTargets(json, 'fleet.json');
    expect(fromJson!.connection).not.toHaveProperty('password');
    expect(fromJson!.options).toBeUndefined();
  });

  it('refuses a literal password in the file or in a URL without repeating it [PW501]', () => {
    const secret = 'Literal-Canary-Secret-99';
    for (const text of [
      `targets:\n  - { name: a, host: h, database: d, user: u, password: ${secret} }`,
      `defaults: { password: ${secret} }\ntargets:\n  - { name: a, host: h, database: d, user: u }`,
      `targets:\n  - { name: a, url: "postgresql://u:${secret}@h/d" }`,
      `targets:\n  - { name: a, url: "postgresql://u@h/d?password=${secret}" }`,
    ]) {
      const err = caught(() => parseTargets(text, 'fleet.yaml'));
      expect(err.code).toBe('PW501');
      expect(err.detail).toMatch(/password.*passwordEnv/);
      expect(JSON.stringify(err.toJSON())).not.toContain(secret);
    }
  });

  it('refuses duplicate target names [PW501]', () => {
    const err = caught(() => parseTargets(fleetYaml(hostTarget('crm', 'a'), hostTarget('crm', 'b')), 'fleet.yaml'));
    expect(err.code).toBe('PW501');
    expect(err.detail).toContain('targets.1.name: duplicate name "crm" (also targets.0)');
  });

  it('lists each bad key of an invalid file [PW501]', () => {
    const err = caught(() =>
      parseTargets(
        `targets:
  - { name: a, host: h, user: u, colour: blue }
  - { name: b, url: "postgresql://u@h/d", host: h2 }
  - { name: c, url: "postgresql://u@h/d?sslrootcert=/ca.pem" }
  - { name: d, host: h, database: d, user: u, ssl: sometimes }
  - { name: "bad name", url: "mysql://u@h/d" }`,
        'fleet.yaml',
      ),
    );
    expect(err.code).toBe('PW501');
    const lines = err.detail!.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^targets\.0: .*colour/),
        'targets.0.database: database is required with host',
        'targets.1: give either url or host/port/database/user, not both',
        expect.stringMatching(/^targets\.2\.url: URL parameter sslrootcert is not supported/),
        expect.stringMatching(/^targets\.3\.ssl: /),
        expect.stringMatching(/^targets\.4\.name: /),
        'targets.4.url: expected a postgresql://user@host:port/database URL',
      ]),
    );
  });

  it('refuses a passwordEnv variable that is not set, naming the target [PW501]', () => {
    const err = caught(() => parseTargets(fleetYaml(hostTarget('crm', 'crm')), 'fleet.yaml', {}));
    expect(err.code).toBe('PW501');
    expect(err.detail).toBe('targets.0 (crm): the environment variable FLEET_PW named by passwordEnv is not set');
  });

  it('refuses a file that is not YAML, has no targets, or cannot be read [PW501]', async () => {
    for (const text of ['targets: [unclosed', '', 'targets: []']) {
      expect(caught(() => parseTargets(text, 'fleet.yaml')).code).toBe('PW501');
    }
    expect((await rejected(readTargets(join(dir, 'missing.yaml')))).code).toBe('PW501');
    await writeFile(join(dir, 'fleet.yaml'), `defaults: { concurrency: 8 }\n${fleetYaml(hostTarget('crm', 'crm'))}`);
    const fleet = await readFleet(join(dir, 'fleet.yaml'), env);
    expect(fleet.concurrency).toBe(8);
    expect(fleet.targets.map((t) => t.name)).toEqual(['crm']);
  });
});
