import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { readCipherList } from './cis-tls.js';
import {
  alterSystem,
  cis,
  isOn,
  outcomeOf,
  preloadedLibraries,
  SECRET_SETTING,
  Section,
  shown,
} from './cis-support.js';

/** Backend-context settings CIS 6.2 wants at their safe values (log_connections/log_disconnections are CIS-3.1.20/21). */
const BACKEND_SETTINGS: ReadonlyArray<[name: string, want: string, why: string]> = [
  ['ignore_system_indexes', 'off', 'catalog lookups scan whole tables, slowing every session'],
  ['jit_debugging_support', 'off', 'JIT-compiled code is registered with debuggers'],
  ['jit_profiling_support', 'off', 'JIT-compiled code is written out for profilers'],
  ['post_auth_delay', '0', 'every login stalls after authentication, holding a connection slot'],
];

/** Cipher list suggested for TLS 1.2: forward-secret AEAD suites only. */
const STRONG_CIPHERS = 'ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL';

/** Where a value set for the server comes from (not the scanner's own session or built-in defaults). */
const CONFIGURED_SOURCES = new Set([
  'configuration file',
  'command line',
  'environment variable',
  'global',
  'database',
  'user',
  'database user',
]);

/** Settings of one context that differ from the built-in default, secrets masked. */
async function configured(ctx: ScanContext, contexts: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const rows = [...(await ctx.allSettings()).values()]
    .filter((r) => contexts.includes(r.context) && CONFIGURED_SOURCES.has(r.source))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const r of rows) out[r.name] = SECRET_SETTING.test(r.name) ? '(set)' : shown(r);
  return out;
}

function contextListing(cisId: string, context: string, contexts: string[]): CheckDefinition {
  return cis({
    cis: cisId,
    section: Section.settings,
    title: `'${context}' runtime parameters are configured correctly`,
    severity: 'low',
    source: 'sql',
    rationale: `The benchmark asks a person to review the ${context}-context parameters set away from their defaults against the site's policy.`,
    remediation: 'Review each listed parameter; reset the ones nobody can justify (ALTER SYSTEM RESET <name>).',
    evaluate: async (ctx) => ({
      verdict: 'manual',
      evidence: { configured: await configured(ctx, contexts) },
      message: `review the ${context} parameters set away from their defaults`,
    }),
  });
}

/**
 * CIS 6.2–6.6 and 6.8–6.11: server parameters, TLS and extensions.
 *
 * @example
 * settingsChecks.find((c) => c.id === 'CIS-6.8')?.severity; // 'high'
 */
export const settingsChecks: CheckDefinition[] = [
  cis({
    cis: '6.2',
    section: Section.settings,
    title: "'backend' runtime parameters are configured correctly",
    severity: 'low',
    source: 'sql',
    rationale:
      'These developer and diagnostic parameters cost performance or expose internals and have no place in production. (log_connections and log_disconnections are judged by CIS-3.1.20 and CIS-3.1.21.)',
    remediation:
      'ALTER SYSTEM SET each listed parameter back to its default; SELECT pg_reload_conf(); (applies to new sessions).',
    evaluate: async (ctx) => {
      const findings: Finding[] = [];
      const seen: Record<string, string> = {};
      for (const [name, want, why] of BACKEND_SETTINGS) {
        const row = await ctx.setting(name);
        seen[name] = shown(row);
        if (row.setting === want) continue;
        findings.push({
          object: name,
          message: `${name} is ${shown(row)}: ${why}`,
          evidence: { setting: name, value: shown(row), source: row.source },
          fix: alterSystem(row, want, 'safe'),
        });
      }
      return outcomeOf(findings, seen);
    },
  }),
  contextListing('6.3', 'postmaster', ['postmaster']),
  contextListing('6.4', 'SIGHUP', ['sighup']),
  contextListing('6.5', 'superuser', ['superuser', 'superuser-backend']),
  contextListing('6.6', 'user', ['user']),
  cis({
    cis: '6.8',
    section: Section.settings,
    title: 'TLS is enabled with a modern minimum protocol version',
    severity: 'high',
    source: 'sql',
    rationale:
      'Without ssl = on no client can encrypt its connection. The minimum protocol decides what a downgrade can reach: below TLS 1.2 fails (high); TLS 1.2, still widely needed by clients and safe with good ciphers (CIS-6.10), is reported low; TLS 1.3, which the CIS PostgreSQL 17 benchmark asks for, passes. ssl_passphrase_command is not required: it only serves encrypted key files, which most servers (and every managed service) do not use. Whether non-local lines require TLS is CIS-5.8.',
    remediation:
      "Install a certificate and key (ssl_cert_file, ssl_key_file), ALTER SYSTEM SET ssl = 'on' and ssl_min_protocol_version = 'TLSv1.3' once clients support it; SELECT pg_reload_conf();",
    evaluate: async (ctx) => {
      const ssl = await ctx.setting('ssl');
      if (!isOn(ssl)) {
        return {
          verdict: 'fail',
          findings: [
            {
              message: 'ssl is off: no connection can use TLS',
              evidence: { ssl: ssl.setting },
              fix: alterSystem(ssl, 'on', 'manual'),
            },
          ],
        };
      }
      const min = await ctx.setting('ssl_min_protocol_version');
      if (min.setting === 'TLSv1.3')
        return { verdict: 'pass', evidence: { ssl: 'on', ssl_min_protocol_version: min.setting } };
      const old = min.setting !== 'TLSv1.2';
      return {
        verdict: 'fail',
        findings: [
          {
            object: 'ssl_min_protocol_version',
            message: old
              ? `ssl_min_protocol_version is ${min.setting || '(any)'}: TLS versions with known weaknesses are accepted`
              : 'ssl_min_protocol_version is TLSv1.2: TLS 1.3 is not required',
            evidence: { ssl: 'on', ssl_min_protocol_version: min.setting },
            severity: old ? 'high' : 'low',
            fix: alterSystem(min, old ? 'TLSv1.2' : 'TLSv1.3', 'manual'),
          },
        ],
      };
    },
  }),
  cis({
    cis: '6.9',
    section: Section.settings,
    title: 'A cryptographic extension is available',
    severity: 'low',
    source: 'sql',
    rationale:
      'pgcrypto (or pgsodium) provides hashing and encryption inside the database; pgwarden itself requires pgcrypto.',
    remediation: 'Install the PostgreSQL contrib package for your major version (it ships pgcrypto).',
    evaluate: async (ctx) => {
      const rows = await ctx.query<{ name: string; installed: string | null }>(
        'cis.crypto_extensions',
        `select name::text, installed_version::text as installed from pg_catalog.pg_available_extensions
          where name in ('pgcrypto', 'pgsodium') order by 1`,
      );
      if (rows.length > 0) return { verdict: 'pass', evidence: { available: rows.map((r) => r.name) } };
      return {
        verdict: 'fail',
        findings: [{ message: 'neither pgcrypto nor pgsodium is available', evidence: { available: [] } }],
      };
    },
  }),
  cis({
    cis: '6.10',
    section: Section.settings,
    title: 'Weak TLS ciphers are disabled',
    severity: 'medium',
    source: 'sql',
    rationale:
      'MEDIUM/LOW, export, NULL, anonymous, RC4, 3DES and MD5 suites can be broken or downgraded to; suites without forward secrecy let a stolen server key decrypt recorded traffic. ssl_ciphers governs TLS 1.2 and older only, so with TLS 1.3 required it passes, and with ssl off it does not apply.',
    remediation: `ALTER SYSTEM SET ssl_ciphers = '${STRONG_CIPHERS}'; SELECT pg_reload_conf();`,
    evaluate: async (ctx) => {
      if (!isOn(await ctx.setting('ssl'))) return { verdict: 'not_applicable', reason: 'ssl is off (see CIS-6.8)' };
      const min = await ctx.settingValue('ssl_min_protocol_version');
      const ciphers = await ctx.setting('ssl_ciphers');
      if (min === 'TLSv1.3') {
        return {
          verdict: 'pass',
          evidence: { ssl_min_protocol_version: min, note: 'ssl_ciphers does not apply to TLS 1.3' },
        };
      }
      const reading = readCipherList(ciphers.setting);
      const findings: Finding[] = [];
      if (reading.weak.length > 0) {
        findings.push({
          object: 'weak ciphers',
          message: `ssl_ciphers allows weak suites: ${reading.weak.join(', ')}`,
          evidence: { ssl_ciphers: ciphers.setting, weak: reading.weak },
          fix: alterSystem(ciphers, STRONG_CIPHERS, 'manual'),
        });
      }
      if (reading.nonForwardSecret) {
        findings.push({
          object: 'forward secrecy',
          message: 'ssl_ciphers allows suites without forward secrecy (static RSA key exchange)',
          evidence: { ssl_ciphers: ciphers.setting },
          severity: 'low',
          fix: alterSystem(ciphers, STRONG_CIPHERS, 'manual'),
        });
      }
      return outcomeOf(findings, { ssl_ciphers: ciphers.setting });
    },
  }),
  cis({
    cis: '6.11',
    section: Section.settings,
    title: 'A data anonymization extension is used where data is copied out',
    severity: 'low',
    source: 'sql',
    rationale:
      'Whether a database needs anonymization (for copies given to developers, analysts or vendors) is a data-classification decision; when anon or pg_anonymize is loaded it passes, otherwise a person decides.',
    remediation:
      'If personal data leaves production, install PostgreSQL Anonymizer (anon) or pg_anonymize and load it through session_preload_libraries.',
    evaluate: async (ctx) => {
      const libs = await preloadedLibraries(ctx);
      const loaded = libs.filter((l) => l === 'anon' || l === 'pg_anonymize');
      if (loaded.length > 0) return { verdict: 'pass', evidence: { loaded } };
      const rows = await ctx.query<{ name: string }>(
        'cis.anon_extensions',
        `select name::text from pg_catalog.pg_available_extensions where name in ('anon', 'pg_anonymize') order by 1`,
      );
      return {
        verdict: 'manual',
        evidence: { loaded: [], available: rows.map((r) => r.name) },
        message: 'no anonymization extension is loaded: decide whether this database holds data that leaves production',
      };
    },
  }),
];
