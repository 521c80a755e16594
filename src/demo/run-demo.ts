import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { type ConnectionConfig, connect, quoteIdent, quoteLiteral, withClient } from '../db/client.js';
import { scramVerifier } from '../db/scram.js';
import { isPgwardenError } from '../errors/index.js';
import {
  type Catalog,
  defaultCatalog,
  getStatus,
  install,
  readLedger,
  roleNames,
  uninstall,
  verifyLedger,
} from '../install/index.js';
import { generateMasterKey } from '../auth/index.js';
import { accessTour } from './access-tour.js';
import { auditTour } from './audit-tour.js';
import { complianceTour } from './compliance-tour.js';
import { identityTour } from './identity-tour.js';
import { monitorTour } from './monitor-tour.js';
import { type DemoSection, section } from './report.js';

export interface DemoOptions {
  /** A superuser connection to the cluster's maintenance database. */
  admin: ConnectionConfig;
  /** Database the tour (re)creates. */
  database: string;
  rolePrefix: string;
  /** Called as each section finishes, for live output. */
  onSection?: (section: DemoSection) => void;
}

const sampleSchemaUrl = new URL('../../demo/sample-app.sql', import.meta.url);

/**
 * The tour: creates a demo database with the sample multi-tenant app, installs the advanced tier
 * and shows each capability working, every claim checked against the real database.
 *
 * @example
 * const sections = await runDemo({ admin, database: 'pgwarden_demo', rolePrefix: 'pgw_' });
 * const failed = sections.flatMap((s) => s.checks).filter((c) => !c.ok);
 */
export async function runDemo(options: DemoOptions): Promise<DemoSection[]> {
  const sections: DemoSection[] = [];
  const add = (s: DemoSection) => {
    sections.push(s);
    options.onSection?.(s);
  };
  const db = { ...options.admin, database: options.database };
  const raceDb = `${options.database}_race`;
  const roles = roleNames(options.rolePrefix);
  const catalog = defaultCatalog();

  await recreateDatabases(options.admin, [options.database, raceDb]);

  add(
    await section('Sample application', async (s) => {
      await withClient(db, async (c) => {
        await c.query(await readFile(sampleSchemaUrl, 'utf8'));
        const { rows } = await c.query(
          `select (select count(*) from app.tenants) t, (select count(*) from app.users) u, (select count(*) from app.invoices) i`,
        );
        s.line(`schema app: ${rows[0].t} tenants, ${rows[0].u} users, projects, ${rows[0].i} invoices`);
        s.line('sensitive columns: users.email, users.full_name, users.phone, invoices.customer_tax_id, invoices.iban');
        s.check(Number(rows[0].t) === 2, 'two tenants loaded');
      });
    }),
  );

  add(
    await section('Install the advanced tier', async (s) => {
      await withClient(db, async (c) => {
        const result = await install(c, {
          tier: 'advanced',
          rolePrefix: options.rolePrefix,
          onEvent: (e) => {
            if (e.kind === 'install-file-applied')
              s.line(`applied ${e.module}/${e.name} (${Math.round(e.ms)} ms, own transaction)`);
          },
        });
        s.check(
          result.applied.length === catalog.files.length,
          `${result.applied.length} SQL files applied, each recorded with its sha256 in pgwarden.migrations`,
        );
        const again = await install(c, { tier: 'advanced', rolePrefix: options.rolePrefix });
        s.check(again.applied.length === 0, 'installing again applies nothing (idempotent)');
        const status = await getStatus(c, { rolePrefix: options.rolePrefix, tier: 'advanced' });
        for (const m of status.modules)
          s.line(`module ${m.module}: version ${m.installedVersion}/${m.availableVersion} (${m.state})`);
        s.line(
          `extensions: ${status.extensions.map((e) => `${e.name} ${e.installedVersion ? 'installed' : e.available ? 'available' : 'absent'}${e.preloaded ? ', preloaded' : ''}`).join('; ')}`,
        );
        s.check(
          status.tier === 'advanced' && status.modules.every((m) => m.state === 'installed'),
          'status: tier advanced, every module current',
        );
      });
    }),
  );

  add(
    await section('Two installers at once', async (s) => {
      const race = { ...options.admin, database: raceDb };
      const results = await Promise.all(
        [0, 1].map(() => withClient(race, (c) => install(c, { tier: 'advanced', rolePrefix: options.rolePrefix }))),
      );
      const counts = results.map((r) => r.applied.length);
      s.line(
        `installer A applied ${counts[0]} files, installer B applied ${counts[1]} (B waited on the advisory lock)`,
      );
      const ledger = await withClient(race, (c) => readLedger(c));
      s.check(
        counts.includes(0) && counts.reduce((a, b) => a + b, 0) === catalog.files.length,
        'both succeeded; the work was done once',
      );
      s.check(ledger.length === catalog.files.length, `one ledger: ${ledger.length} rows`);
    }),
  );

  add(
    await section('Role model', async (s) => {
      await withClient(db, async (c) => {
        const { rows } = await c.query(
          `select rolname, rolsuper, rolinherit, rolcanlogin, rolbypassrls from pg_catalog.pg_roles where rolname = any($1::text[]) order by rolname`,
          [Object.values(roles)],
        );
        for (const r of rows)
          s.line(
            `${r.rolname.padEnd(24)} ${r.rolcanlogin ? 'login  ' : 'nologin'} ${r.rolinherit ? 'inherit  ' : 'noinherit'} ${r.rolsuper ? 'SUPERUSER' : ''}${r.rolbypassrls ? 'BYPASSRLS' : ''}`,
          );
        s.check(
          rows.length === 7 && rows.every((r) => !r.rolsuper && !r.rolbypassrls),
          'seven roles, none superuser or BYPASSRLS',
        );
        const owner = rows.find((r) => r.rolname === roles.owner);
        s.check(owner?.rolcanlogin === false, `${roles.owner} owns pgwarden's objects and cannot log in`);
        const auth = rows.find((r) => r.rolname === roles.authenticator);
        s.check(auth?.rolcanlogin === true && auth?.rolinherit === false, `${roles.authenticator} logs in, NOINHERIT`);
        // A throwaway password, set from its SCRAM verifier so the password never reaches the server.
        const password = randomBytes(18).toString('base64url');
        await c.query(
          `alter role ${quoteIdent(roles.authenticator)} password ${quoteLiteral(scramVerifier(password))}`,
        );
        const appConn = await connect({ ...db, user: roles.authenticator, password });
        try {
          await appConn.query('begin');
          await appConn.query(`set local role ${quoteIdent(roles.app_user)}`);
          s.check(
            (await appConn.query('select current_user as u')).rows[0].u === roles.app_user,
            `${roles.authenticator} can switch to ${roles.app_user} per request`,
          );
          await appConn.query('rollback');
          s.check(
            await denied(appConn, `set role ${quoteIdent(roles.owner)}`),
            `${roles.authenticator} cannot become ${roles.owner}`,
          );
          s.check(
            await denied(appConn, 'select count(*) from logs.notification_log'),
            `${roles.authenticator} cannot read the security-event log`,
          );
          s.check(
            await denied(appConn, 'delete from pgwarden.migrations'),
            `${roles.authenticator} cannot touch the migration ledger`,
          );
        } finally {
          await appConn.end();
          await c.query(`alter role ${quoteIdent(roles.authenticator)} password null`);
        }
      });
    }),
  );

  add(
    await section('Security-event log', async (s) => {
      await withClient(db, async (c) => {
        // An application appends an event claiming to act for an end user; the server records
        // which login really wrote it.
        await c.query(
          `select logs.log_event('demo.report_exported', 'info', 'alice@acme.example', 'invoices', 'acme')`,
        );
        const { rows } = await c.query(
          `select id, occurred_at, event_type, severity, actor, db_user, details->>'tier' as tier
             from logs.notification_log order by id`,
        );
        for (const r of rows)
          s.line(
            `#${r.id} ${r.occurred_at.toISOString()} ${r.event_type} ${r.severity} actor ${r.actor} (login ${r.db_user})${r.tier ? ` tier ${r.tier}` : ''}`,
          );
        const claimed = rows.find((r) => r.event_type === 'demo.report_exported');
        s.check(
          claimed?.actor === 'alice@acme.example' && claimed?.db_user === options.admin.user,
          'an event keeps the actor the caller claims and the login the server saw (db_user)',
        );
        s.check(
          rows.some((r) => r.event_type === 'pgwarden.installed'),
          'the install is recorded in logs.notification_log',
        );
      });
    }),
  );

  add(
    await section('Installer refuses edited or unknown SQL', async (s) => {
      await withClient(db, async (c) => {
        const ledger = await readLedger(c);
        const edited: Catalog = {
          ...catalog,
          files: catalog.files.map((f, i) =>
            i === catalog.files.length - 1 ? { ...f, sha256: sha('edited'), sql: `${f.sql}\n-- edited` } : f,
          ),
        };
        s.check(
          refuses(() => verifyLedger(ledger, edited), 'PW202'),
          'a released file edited after install is refused (PW202)',
        );
        const older: Catalog = { ...catalog, files: catalog.files.slice(0, -1) };
        s.check(
          refuses(() => verifyLedger(ledger, older), 'PW203'),
          'a database newer than the code is refused (PW203)',
        );
        s.line(`ledger chain head: ${ledger.at(-1)?.chainSha256.slice(0, 16)}…`);
      });
    }),
  );

  const masterKey = generateMasterKey();
  await identityTour(db, add, masterKey);
  await accessTour(db, roles, add, masterKey);
  await auditTour(db, roles.owner, add, masterKey);
  await complianceTour(db, options.rolePrefix, add);
  await monitorTour(db, add, masterKey);

  add(
    await section('Uninstall keeps the security events', async (s) => {
      const race = { ...options.admin, database: raceDb };
      await withClient(race, async (c) => {
        // Someone's column depends on the pgcrypto pgwarden installed: uninstall must not take it.
        await c.query(
          `create table public.docs (body text, sha bytea generated always as (pgwarden.digest(body, 'sha256')) stored)`,
        );
        const refused = await uninstall(c, { rolePrefix: options.rolePrefix }).then(
          () => undefined,
          (err: { code?: string; detail?: string }) => err,
        );
        s.check(
          refused?.code === 'PW215' && Boolean(refused.detail?.includes('public.docs.sha')),
          'uninstall refuses, removing nothing, when a cascade would reach a user column (PW215)',
        );
        await c.query('drop table public.docs');
        const before = Number((await c.query('select count(*) as n from logs.notification_log')).rows[0].n);
        const result = await uninstall(c, { rolePrefix: options.rolePrefix });
        s.line(`dropped schemas: ${result.droppedSchemas.join(', ')}; kept: ${result.keptTables.join(', ')}`);
        const kept = Number((await c.query('select count(*) as n from logs.notification_log')).rows[0].n);
        s.check(kept === before + 1, `after uninstall: ${kept} events kept (${before} + the uninstall itself)`);
        await install(c, { tier: 'advanced', rolePrefix: options.rolePrefix });
        const after = Number((await c.query('select count(*) as n from logs.notification_log')).rows[0].n);
        s.check(after === kept + 1, `reinstall adopted them: ${after} events (+ the reinstall)`);
      });
    }),
  );

  await withClient(options.admin, (c) => c.query(`drop database if exists ${quoteIdent(raceDb)} with (force)`));
  return sections;
}

async function recreateDatabases(admin: ConnectionConfig, names: string[]): Promise<void> {
  await withClient(admin, async (c) => {
    for (const name of names) {
      // A WAL capture slot left by an interrupted run would keep the database from being dropped.
      await c.query(
        `select pg_catalog.pg_drop_replication_slot(s.slot_name) from pg_catalog.pg_replication_slots s
          where s.database = $1 and not s.active`,
        [name],
      );
      await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      await c.query(`create database ${quoteIdent(name)}`);
    }
  });
}

async function denied(client: pg.Client, sql: string): Promise<boolean> {
  try {
    await client.query(sql);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === '42501';
  }
}

function refuses(fn: () => void, code: string): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isPgwardenError(err) && err.code === code;
  }
}

const sha = (s: string) => Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64);
