import { readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { accessOf, type HostEnv, hostCheck, listDir, octal, readText, tryStat } from './host-env.js';
import { serverHost } from './host-server.js';

const INSTALL = 'Installation and patches';
const PERMISSIONS = 'Directory and file permissions';

interface Tablespace {
  oid: string;
  name: string;
  location: string;
}

/** User tablespaces with the directory each really lives in (pg_tblspc/<oid> resolved). */
async function tablespaces(
  ctx: ScanContext,
  dataDir: string,
): Promise<Array<Tablespace & { dir: string; inPlace: boolean }>> {
  const rows = await ctx.query<Tablespace>(
    'host.tablespaces',
    `select t.oid::text as oid, t.spcname::text as name, pg_catalog.pg_tablespace_location(t.oid) as location
       from pg_catalog.pg_tablespace t where t.spcname not in ('pg_default', 'pg_global') order by t.spcname`,
  );
  const out = [];
  for (const t of rows) {
    const link = join(dataDir, 'pg_tblspc', t.oid);
    const s = await tryStat(link, false);
    // allow_in_place_tablespaces: a plain directory under pg_tblspc instead of a symlink.
    const inPlace = typeof s !== 'string' && s.isDirectory();
    let dir = inPlace ? link : isAbsolute(t.location) ? t.location : resolve(dataDir, t.location);
    if (typeof s !== 'string' && s.isSymbolicLink()) dir = resolve(join(dataDir, 'pg_tblspc'), await readlink(link));
    out.push({ ...t, dir: await realpath(dir).catch(() => dir), inPlace });
  }
  return out;
}

const inside = (dir: string, root: string) => dir === root || dir.startsWith(root.endsWith(sep) ? root : root + sep);

/** Entries PostgreSQL 15–17 (and pgwarden's embedded cluster) keep at the top of a data directory. */
const EXPECTED = new Set([
  'PG_VERSION', 'base', 'global', 'pg_commit_ts', 'pg_dynshmem', 'pg_logical', 'pg_multixact', 'pg_notify',
  'pg_replslot', 'pg_serial', 'pg_snapshots', 'pg_stat', 'pg_stat_tmp', 'pg_subtrans', 'pg_tblspc', 'pg_twophase',
  'pg_wal', 'pg_xact', 'postgresql.conf', 'postgresql.auto.conf', 'pg_hba.conf', 'pg_ident.conf', 'postmaster.opts',
  'postmaster.pid', 'current_logfiles', 'log', 'backup_label', 'backup_label.old', 'tablespace_map',
  'tablespace_map.old', 'standby.signal', 'recovery.signal', 'backup_manifest', 'pgwarden.conf',
]); // prettier-ignore

/**
 * CIS 1.4.x, 1.9, 2.7 and 2.8: the data directory itself.
 *
 * @example
 * const checks = dataDirChecks(resolveHostEnv());
 */
export function dataDirChecks(env: HostEnv): CheckDefinition[] {
  return [
    hostCheck({
      cis: '1.4.1',
      section: INSTALL,
      title: 'The data directory and every database directory carry PG_VERSION',
      severity: 'low',
      rationale:
        'initdb writes PG_VERSION into the data directory and each database directory; a missing one means an incomplete initialisation or files removed by hand.',
      remediation: 'Investigate the missing files; restore the cluster from a backup if they were lost.',
      evaluate: async (ctx) => {
        const { dataDir } = await serverHost(ctx, env);
        const findings: Finding[] = [];
        const top = await readText(join(dataDir, 'PG_VERSION'), 64);
        if (typeof top === 'string') {
          findings.push({
            object: 'PG_VERSION',
            message: `PG_VERSION is ${top} in the data directory`,
            evidence: { dataDir },
          });
        }
        const dbs = (await listDir(join(dataDir, 'base'))).filter((e) => /^\d+$/.test(e.name));
        for (const db of dbs) {
          const v = await readText(join(dataDir, 'base', db.name, 'PG_VERSION'), 64);
          if (typeof v === 'string') {
            findings.push({
              object: `base/${db.name}`,
              message: `base/${db.name}/PG_VERSION is ${v}`,
              evidence: { dataDir },
            });
          }
        }
        return findings.length > 0
          ? { verdict: 'fail', findings }
          : { verdict: 'pass', evidence: { dataDir, databaseDirectories: dbs.length } };
      },
    }),
    hostCheck({
      cis: '1.4.2',
      section: INSTALL,
      title: 'PG_VERSION matches the running server major version',
      severity: 'low',
      rationale:
        'The data directory must belong to the running major version; a mismatch points at a half-done upgrade.',
      remediation: 'Find out which binaries wrote this data directory and finish or roll back the upgrade.',
      evaluate: async (ctx) => {
        const { dataDir } = await serverHost(ctx, env);
        const read = await readText(join(dataDir, 'PG_VERSION'), 64);
        const version = typeof read === 'string' ? undefined : read.text.trim();
        const evidence = { dataDir, pgVersion: version ?? read, serverMajor: ctx.server.major };
        if (version === String(ctx.server.major)) return { verdict: 'pass', evidence };
        return {
          verdict: 'fail',
          findings: [
            {
              object: 'PG_VERSION',
              message: `PG_VERSION says ${version ?? read}, the server is ${ctx.server.major}`,
              evidence,
            },
          ],
        };
      },
    }),
    hostCheck({
      cis: '1.4.4',
      section: INSTALL,
      title: 'WAL and temporary files are on other filesystems than the data directory',
      severity: 'low',
      rationale:
        'A runaway query filling temporary space, or WAL piling up behind a stuck archive, should not fill the filesystem holding the tables. pgwarden compares device ids (not path prefixes), and resolves temp_tablespaces as tablespace names through pg_tablespace (pgdsat compared the names with "/" and so could never pass). temp_tablespaces is read as the scanning session sees it: per-role settings of other roles are not visible.',
      remediation:
        'Move pg_wal to its own filesystem (initdb --waldir, or stop the server, move it and symlink) and create a tablespace on another filesystem for temp_tablespaces.',
      evaluate: async (ctx) => {
        const { dataDir, dataStats } = await serverHost(ctx, env);
        const findings: Finding[] = [];
        const wal = await tryStat(join(dataDir, 'pg_wal'));
        if (typeof wal === 'string') throw new NotEvaluated(`pg_wal is ${wal} here`);
        const walDir = await realpath(join(dataDir, 'pg_wal'));
        if (wal.dev === dataStats.dev) {
          findings.push({
            object: 'pg_wal',
            message: 'pg_wal is on the same filesystem as the data directory',
            evidence: { dataDir, pgWal: walDir, device: dataStats.dev },
          });
        }
        const names = (await ctx.settingValue('temp_tablespaces'))
          .split(',')
          .map((n) => n.trim().replace(/^"(.*)"$/, '$1'))
          .filter((n) => n !== '');
        const spaces = await tablespaces(ctx, dataDir);
        const known = spaces.filter((t) => names.includes(t.name));
        const temp: Array<{ name: string; dir: string }> = known.map((t) => ({ name: t.name, dir: t.dir }));
        if (temp.length === 0) {
          // No usable temp tablespace: temporary files go to the database's default tablespace.
          const db = await ctx.query<{ name: string; oid: string }>(
            'host.database.tablespace',
            `select t.spcname::text as name, t.oid::text as oid from pg_catalog.pg_database d
               join pg_catalog.pg_tablespace t on t.oid = d.dattablespace where d.datname = pg_catalog.current_database()`,
          );
          const def = db[0]?.name ?? 'pg_default';
          temp.push({ name: def, dir: spaces.find((t) => t.name === def)?.dir ?? join(dataDir, 'base') });
        }
        for (const t of temp) {
          const s = await tryStat(t.dir);
          if (typeof s === 'string' || s.dev === dataStats.dev) {
            findings.push({
              object: `temp tablespace ${t.name}`,
              message: `temporary files go to ${t.name} (${t.dir}), on the data directory's filesystem`,
              evidence: {
                tempTablespaces: names,
                tablespace: t.name,
                directory: t.dir,
                reachable: typeof s !== 'string',
              },
            });
          }
        }
        if (findings.length > 0) return { verdict: 'fail', findings };
        return { verdict: 'pass', evidence: { pgWal: walDir, temp, dataDevice: dataStats.dev } };
      },
    }),
    hostCheck({
      cis: '1.9',
      section: INSTALL,
      title: 'Tablespaces are outside the data directory',
      severity: 'medium',
      rationale:
        'A tablespace inside the data directory is copied twice by file-level backups, breaks pg_upgrade and pg_basebackup expectations, and hides growth in the data filesystem. pgwarden reports it on this row (pgdsat wrote the result to 1.8) and also catches in-place tablespaces.',
      remediation:
        'Move the tablespace: create a new one outside the data directory and ALTER TABLE/INDEX … SET TABLESPACE, then drop the old one.',
      evaluate: async (ctx) => {
        const { dataDir, realDataDir } = await serverHost(ctx, env);
        const spaces = await tablespaces(ctx, dataDir);
        const findings: Finding[] = spaces
          .filter((t) => t.inPlace || inside(t.dir, realDataDir))
          .map((t) => ({
            object: `tablespace ${t.name}`,
            message: `tablespace ${t.name} is inside the data directory (${t.dir})`,
            evidence: { location: t.location, directory: t.dir, inPlace: t.inPlace, dataDir },
          }));
        if (findings.length > 0) return { verdict: 'fail', findings };
        return { verdict: 'pass', evidence: { tablespaces: spaces.map((t) => ({ name: t.name, directory: t.dir })) } };
      },
    }),
    hostCheck({
      cis: '2.7',
      section: PERMISSIONS,
      title: 'The data directory is 0700 (or 0750 with group access)',
      severity: 'high',
      rationale:
        'Anyone who can read the data directory reads every table, password hash and key material in it, past all SQL permissions. PostgreSQL checks the mode only at start, so a later chmod goes unnoticed by the server.',
      remediation: 'chmod 0700 "$PGDATA" (0750 only with initdb --allow-group-access and a dedicated group).',
      evaluate: async (ctx) => {
        const { dataDir, dataStats, osUser } = await serverHost(ctx, env);
        const mode = dataStats.mode & 0o7777;
        const evidence = { dataDir, mode: octal(mode), owner: osUser?.name ?? dataStats.uid };
        if ((mode & 0o027) === 0) return { verdict: 'pass', evidence };
        const world = (mode & 0o007) !== 0;
        return {
          verdict: 'fail',
          findings: [
            {
              object: dataDir,
              message: `the data directory is ${octal(mode)}: ${accessOf(mode)}`,
              evidence,
              severity: world || (mode & 0o020) !== 0 ? 'high' : 'medium',
            },
          ],
        };
      },
    }),
    hostCheck({
      cis: '2.8',
      section: PERMISSIONS,
      title: 'Contents of the data directory (listing)',
      severity: 'low',
      rationale:
        'Copies of configuration, dumps or symlinks to elsewhere in the data directory are read by anyone who gets a file-level backup. pgwarden lists the top level and marks entries PostgreSQL does not create.',
      remediation: 'Move files that do not belong to the server out of the data directory; review every symlink.',
      evaluate: async (ctx) => {
        const { dataDir } = await serverHost(ctx, env);
        const entries = await listDir(dataDir, 1000);
        const unexpected = [];
        const symlinks = [];
        for (const e of entries) {
          const type = e.isSymbolicLink() ? 'symlink' : e.isDirectory() ? 'directory' : e.isFile() ? 'file' : 'other';
          if (type === 'symlink') {
            symlinks.push({ name: e.name, target: await readlink(join(dataDir, e.name)).catch(() => '?') });
          }
          if (!EXPECTED.has(e.name)) unexpected.push({ name: e.name, type });
        }
        return {
          verdict: 'manual',
          evidence: { dataDir, entries: entries.length, unexpected: unexpected.slice(0, 200), symlinks },
          message: `${unexpected.length} unexpected entries and ${symlinks.length} symlinks at the top of the data directory`,
        };
      },
    }),
  ];
}
