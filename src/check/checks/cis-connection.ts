import type { CheckDefinition, Finding } from '../types.js';
import {
  alterSystem,
  alterSystemByName,
  cis,
  listItems,
  outcomeOf,
  preloadedLibraries,
  Section,
  settingCheck,
  shown,
} from './cis-support.js';

/** Addresses that make the server listen on every interface. */
const WILDCARD = new Set(['*', '0.0.0.0', '::', '[::]']);

/** Longest authentication_timeout the benchmark accepts, in seconds. */
const MAX_AUTH_TIMEOUT_S = 60;

/**
 * CIS 5.2, 5.5, 5.6, 5.7 and 5.12: connection and login settings readable over SQL.
 *
 * @example
 * connectionChecks.find((c) => c.id === 'CIS-5.12')?.severity; // 'high'
 */
export const connectionChecks: CheckDefinition[] = [
  settingCheck({
    cis: '5.2',
    section: Section.connection,
    title: 'PostgreSQL listens only on the addresses clients use',
    severity: 'medium',
    setting: 'listen_addresses',
    rationale:
      "Listening on every interface ('*', 0.0.0.0, ::) exposes the login to networks no client needs; pg_hba.conf then becomes the only barrier.",
    remediation:
      'ALTER SYSTEM SET listen_addresses to the specific addresses clients connect to (e.g. the private interface), then restart. Check that every client can still reach one of them.',
    judge: (row) => {
      const wild = listItems(row.setting).filter((a) => WILDCARD.has(a));
      return wild.length === 0
        ? null
        : { message: `listen_addresses is ${row.setting}: the server listens on every interface` };
    },
  }),
  cis({
    cis: '5.5',
    section: Section.connection,
    title: 'Login roles have a connection limit',
    severity: 'low',
    stig: ['V-233522', 'V-261857'],
    source: 'sql',
    rationale:
      'A login role without a connection limit can take every connection slot, by accident (a pool misconfiguration) or on purpose, locking out everyone else. Superusers are not subject to connection limits and are not listed.',
    remediation: 'ALTER ROLE <role> CONNECTION LIMIT <n> for each listed role, with n sized for its pool.',
    evaluate: async (ctx) => {
      const roles = await ctx.query<{ name: string }>(
        'cis.unlimited_logins',
        `select rolname::text as name from pg_catalog.pg_roles
          where rolcanlogin and not rolsuper and rolconnlimit = -1 and rolname !~ '^pg_'
          order by 1`,
      );
      return outcomeOf(
        roles.map((r) => ({
          object: `role ${r.name}`,
          message: `login role ${r.name} has no connection limit`,
          evidence: { role: r.name, connectionLimit: -1 },
        })),
      );
    },
  }),
  cis({
    cis: '5.6',
    section: Section.connection,
    title: 'Password complexity is enforced for database roles',
    severity: 'medium',
    source: 'sql',
    references: [
      'https://www.postgresql.org/docs/current/passwordcheck.html',
      'https://github.com/MigOpsRepos/credcheck',
    ],
    rationale:
      "Without passwordcheck or credcheck, CREATE ROLE and ALTER ROLE … PASSWORD accept any password, whatever pg_hba.conf says today. pgwarden's own password policy (auth.register_user) covers application users, not database roles.",
    remediation:
      "Add passwordcheck (contrib) or credcheck to shared_preload_libraries and restart; configure credcheck's rules as policy requires. Roles authenticating only by certificate, Kerberos or LDAP may be waived.",
    evaluate: async (ctx) => {
      const libs = await preloadedLibraries(ctx);
      const modules = libs.filter((l) => l === 'passwordcheck' || l === 'credcheck');
      if (modules.length > 0) return { verdict: 'pass', evidence: { modules } };
      const shared = await ctx.setting('shared_preload_libraries');
      return {
        verdict: 'fail',
        findings: [
          {
            message: 'no password complexity module (passwordcheck, credcheck) is loaded',
            evidence: { shared_preload_libraries: shared.setting },
            fix: alterSystem(shared, [...listItems(shared.setting), 'passwordcheck'], 'manual'),
          },
        ],
      };
    },
  }),
  cis({
    cis: '5.7',
    section: Section.connection,
    title: 'Authentication timeout and failed-login delay are configured',
    severity: 'low',
    source: 'sql',
    rationale:
      'A long authentication_timeout lets half-open logins hold connection slots; without a delay after a failed login (auth_delay or credcheck), password guessing runs at full speed.',
    remediation:
      "ALTER SYSTEM SET authentication_timeout = '60s' (or less); add auth_delay to shared_preload_libraries with auth_delay.milliseconds = 500 (or credcheck.auth_delay_ms), then restart.",
    evaluate: async (ctx) => {
      const findings: Finding[] = [];
      const timeout = await ctx.setting('authentication_timeout');
      if (Number(timeout.setting) > MAX_AUTH_TIMEOUT_S) {
        findings.push({
          object: 'authentication_timeout',
          message: `authentication_timeout is ${shown(timeout)}, more than ${MAX_AUTH_TIMEOUT_S} s`,
          evidence: { authentication_timeout: shown(timeout) },
          fix: alterSystem(timeout, `${MAX_AUTH_TIMEOUT_S}s`, 'safe'),
        });
      }
      const shared = await ctx.setting('shared_preload_libraries');
      const libs = listItems(shared.setting);
      const delays: Record<string, string> = {};
      for (const [lib, name] of [
        ['auth_delay', 'auth_delay.milliseconds'],
        ['credcheck', 'credcheck.auth_delay_ms'],
      ] as const) {
        if (libs.includes(lib) && (await ctx.hasSetting(name))) delays[name] = await ctx.settingValue(name);
      }
      if (!Object.values(delays).some((v) => Number(v) > 0)) {
        findings.push({
          object: 'auth_delay',
          message: 'failed logins are not delayed (auth_delay or credcheck)',
          evidence: { shared_preload_libraries: shared.setting, ...delays },
          fix: [
            ...alterSystem(shared, [...new Set([...libs, 'auth_delay'])], 'manual'),
            // Before 17, ALTER SYSTEM accepts a module's setting only once the module is loaded.
            ...(ctx.server.major >= 17 ? alterSystemByName('auth_delay.milliseconds', '500', 'manual', true) : []),
          ],
        });
      }
      return outcomeOf(findings, { authentication_timeout: shown(timeout), ...delays });
    },
  }),
  settingCheck({
    cis: '5.12',
    section: Section.connection,
    title: "'password_encryption' is scram-sha-256",
    severity: 'high',
    stig: ['V-261891'],
    setting: 'password_encryption',
    rationale:
      'md5 password hashes are unsalted beyond the user name and, once read from pg_authid or a backup, log in as the user (pass-the-hash). SCRAM-SHA-256 stores salted, iterated verifiers.',
    remediation:
      "ALTER SYSTEM SET password_encryption = 'scram-sha-256'; SELECT pg_reload_conf(); then reset the password of every role whose stored hash is still md5 (and switch md5 lines in pg_hba.conf to scram-sha-256).",
    judge: (row) => (row.setting === 'scram-sha-256' ? null : { message: `password_encryption is ${row.setting}` }),
    fixValue: 'scram-sha-256',
    // Existing md5 hashes keep working only while pg_hba.conf says md5; people reset them.
    fixSafety: 'manual',
  }),
];
