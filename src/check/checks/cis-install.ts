import type { CheckDefinition, Finding } from '../types.js';
import { insideDataDirectory } from './cis-audit.js';
import { capped, cis, outcomeOf, SECRET_SETTING, Section, shown } from './cis-support.js';

/** Tablespace names of temp_tablespaces as written (names are case-sensitive, unlike most lists). */
function tablespaceNames(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
    .filter((s) => s !== '');
}

interface TablespaceRow {
  name: string;
  location: string;
}

/**
 * CIS 1.4.3, 1.4.4 (temporary files), 1.8, 1.9 and 8.3.
 *
 * @example
 * installChecks.map((c) => c.id); // ['CIS-1.4.3', 'CIS-1.4.4', 'CIS-1.8', 'CIS-1.9', 'CIS-8.3']
 */
export const installChecks: CheckDefinition[] = [
  cis({
    cis: '1.4.3',
    section: Section.install,
    title: 'Data checksums are enabled',
    severity: 'medium',
    source: 'sql',
    rationale:
      'Page checksums detect corruption (and tampering below the server) when a page is read, instead of silently serving or replicating bad data. Checksum failures already recorded are reported as high.',
    remediation:
      'Stop the server and run pg_checksums --enable -D <data directory> (PostgreSQL 12+), or initialise new clusters with initdb --data-checksums; investigate any recorded checksum failures at once.',
    evaluate: async (ctx) => {
      const enabled = (await ctx.settingValue('data_checksums')) === 'on';
      const failures = await ctx.query<{ database: string; failures: string }>(
        'cis.checksum_failures',
        `select coalesce(datname::text, '(shared catalogs)') as database, checksum_failures::text as failures
           from pg_catalog.pg_stat_database where checksum_failures > 0 order by 1`,
      );
      const findings: Finding[] = failures.map((f) => ({
        object: `database ${f.database}`,
        message: `${f.failures} checksum failure(s) recorded in database ${f.database}`,
        evidence: { database: f.database, checksumFailures: Number(f.failures) },
        severity: 'high',
      }));
      if (!enabled) findings.push({ message: 'data checksums are disabled', evidence: { data_checksums: 'off' } });
      return outcomeOf(findings, { data_checksums: 'on' });
    },
  }),
  cis({
    cis: '1.4.4',
    section: Section.install,
    title: 'Temporary files are written outside the data directory',
    severity: 'low',
    source: 'sql',
    rationale:
      'Large sorts and hashes spill temporary files; in the data directory they compete for the disk the database needs, so one runaway query can stop the server. This is the part of the benchmark item visible over SQL (temp_tablespaces); where pg_wal lives and which file systems are shared are host checks.',
    remediation:
      "CREATE TABLESPACE temp_space LOCATION '/other/filesystem/pgtemp'; ALTER SYSTEM SET temp_tablespaces = 'temp_space'; SELECT pg_reload_conf();",
    evaluate: async (ctx) => {
      const temp = await ctx.setting('temp_tablespaces');
      const data = await ctx.settingValue('data_directory');
      const names = tablespaceNames(temp.setting);
      if (names.length === 0) {
        return {
          verdict: 'fail',
          findings: [
            {
              message: 'temp_tablespaces is empty: temporary files go to the data directory',
              evidence: { temp_tablespaces: '' },
            },
          ],
        };
      }
      const rows = await ctx.query<TablespaceRow>(
        'cis.tablespaces',
        `select spcname::text as name, pg_catalog.pg_tablespace_location(oid) as location from pg_catalog.pg_tablespace order by 1`,
      );
      const findings: Finding[] = [];
      for (const name of names) {
        const ts = rows.find((r) => r.name === name);
        if (!ts) {
          findings.push({
            object: `tablespace ${name}`,
            message: `temp_tablespaces names ${name}, which does not exist`,
            evidence: { tablespace: name },
          });
        } else if (ts.location === '' || insideDataDirectory(ts.location, data)) {
          findings.push({
            object: `tablespace ${name}`,
            message: `temporary tablespace ${name} is inside the data directory`,
            evidence: { tablespace: name, location: ts.location || '(data directory)' },
          });
        }
      }
      return outcomeOf(findings, { temp_tablespaces: temp.setting });
    },
  }),
  cis({
    cis: '1.8',
    section: Section.install,
    title: 'Unused extensions are removed',
    severity: 'low',
    source: 'sql',
    rationale:
      'Every installed extension adds functions (some SECURITY DEFINER or untrusted-language) to the attack surface; only a person knows which are used.',
    remediation: 'DROP EXTENSION the extensions nothing uses, in each database.',
    evaluate: async (ctx) => {
      const rows = await ctx.query<Record<string, unknown>>(
        'cis.extensions',
        `select e.extname::text as name, e.extversion::text as version, n.nspname::text as schema
           from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace order by 1`,
      );
      return {
        verdict: 'manual',
        evidence: { database: ctx.server.database, extensions: capped(rows) },
        message: 'confirm each extension is used (scan each database)',
      };
    },
  }),
  cis({
    cis: '1.9',
    section: Section.install,
    title: 'Tablespaces are not inside the data directory',
    severity: 'low',
    source: 'sql',
    rationale:
      'A tablespace inside the data directory is copied twice by file-level backups, breaks pg_upgrade, and shares the data disk. In-place tablespaces (allow_in_place_tablespaces) are test-only.',
    remediation:
      'Move the tablespace: create one on another file system and ALTER TABLE … SET TABLESPACE (or ALTER DATABASE … SET TABLESPACE), then drop the old one.',
    evaluate: async (ctx) => {
      const data = await ctx.settingValue('data_directory');
      const rows = await ctx.query<TablespaceRow>(
        'cis.tablespaces',
        `select spcname::text as name, pg_catalog.pg_tablespace_location(oid) as location from pg_catalog.pg_tablespace order by 1`,
      );
      const user = rows.filter((r) => r.name !== 'pg_default' && r.name !== 'pg_global');
      return outcomeOf(
        user
          .filter((r) => insideDataDirectory(r.location, data))
          .map((r) => ({
            object: `tablespace ${r.name}`,
            message: `tablespace ${r.name} is inside the data directory (${r.location})`,
            evidence: { tablespace: r.name, location: r.location, data_directory: data },
          })),
        { tablespaces: user.map((r) => r.name) },
      );
    },
  }),
  cis({
    cis: '8.3',
    section: Section.special,
    title: 'Miscellaneous configuration settings are correct',
    severity: 'low',
    source: 'sql',
    rationale:
      'Preloaded libraries, the library search path, socket directories and the external pid file decide what code the server loads and where others can reach it; a person confirms each is intended.',
    remediation: 'Review the listed settings; remove libraries and paths that are not needed.',
    evaluate: async (ctx) => {
      const all = await ctx.allSettings();
      const names = [
        'external_pid_file',
        'unix_socket_directories',
        'shared_preload_libraries',
        'session_preload_libraries',
        'local_preload_libraries',
        'dynamic_library_path',
      ];
      const evidence: Record<string, string> = {};
      for (const name of names) {
        const row = all.get(name);
        evidence[name] =
          row === undefined ? '(not visible to this login)' : SECRET_SETTING.test(name) ? '(set)' : shown(row);
      }
      return { verdict: 'manual', evidence, message: 'confirm each library, path and directory is intended' };
    },
  }),
];
