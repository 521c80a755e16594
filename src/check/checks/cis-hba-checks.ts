import { redactHbaError } from '../redact.js';
import type { HbaRule, ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import {
  activeRules,
  addressText,
  hbaAddress,
  INERT_LINE,
  lineEvidence,
  lineObject,
  loginSuperusers,
  methodSeverity,
  rangeSeverity,
  stayOnHost,
  superusersAllowed,
} from './cis-hba.js';
import { cis, outcomeOf, Section } from './cis-support.js';

const methodRisk: Record<string, string> = {
  trust: 'anyone who reaches this line connects as any user it names, with no password',
  password: 'the password crosses the connection in clear text',
  md5: 'md5 hashes are replayable once stolen and allow only weak hashing; use scram-sha-256',
  ident: "it believes whatever user name the client machine's ident service reports",
};

const RELOAD = 'then SELECT pg_reload_conf() (the server keeps the old rules if the edited file is invalid).';

function methodFindings(rules: HbaRule[]): Finding[] {
  const findings: Finding[] = [];
  for (const rule of rules) {
    const severity = methodSeverity(rule.type, rule.authMethod);
    if (severity === null) continue;
    findings.push({
      object: lineObject(rule),
      message: `${rule.type} line uses ${rule.authMethod}: ${methodRisk[rule.authMethod] ?? 'weak authentication'}`,
      evidence: lineEvidence(rule),
      severity,
    });
  }
  return findings;
}

/** Lines the server rejected: it kept its previous rules at reload and will refuse to start. */
function errorFindings(rules: HbaRule[]): Finding[] {
  return rules
    .filter((r) => r.error !== null && !INERT_LINE.test(r.error))
    .map((r) => ({
      object: lineObject(r),
      message: `invalid line (${redactHbaError(r.error!)}): the server did not load the edited pg_hba.conf and will not start with it`,
      // The server's message can repeat an option's value: an LDAP bind password, a RADIUS secret.
      evidence: { line: r.lineNumber, ...(r.fileName ? { file: r.fileName } : {}), error: redactHbaError(r.error!) },
      severity: 'high' as const,
    }));
}

async function hostLines(ctx: ScanContext): Promise<HbaRule[]> {
  return (await activeRules(ctx)).filter((r) => r.type !== 'local');
}

/**
 * CIS 5.3, 5.4 and 5.8–5.11: pg_hba.conf as the server reads it (pg_hba_file_rules).
 *
 * @example
 * hbaChecks.every((c) => c.source === 'hba'); // true
 */
export const hbaChecks: CheckDefinition[] = [
  cis({
    cis: '5.3',
    section: Section.connection,
    title: 'Logins over the Unix socket ("local" lines) are authenticated',
    severity: 'critical',
    stig: ['V-233519', 'V-261892'],
    source: 'hba',
    rationale:
      'trust lets every OS user on the machine connect as any database user it names, including superusers; password sends it in clear text; md5 keeps replayable hashes. Use peer or scram-sha-256.',
    remediation: `Edit the listed local lines of pg_hba.conf to use peer or scram-sha-256, ${RELOAD}`,
    evaluate: async (ctx) => {
      const rules = await ctx.hbaRules();
      const local = rules.filter((r) => r.type === 'local');
      const findings = [...methodFindings(local.filter((r) => r.error === null)), ...errorFindings(local)];
      return outcomeOf(findings, { localLines: local.length });
    },
  }),
  cis({
    cis: '5.4',
    section: Section.connection,
    title: 'Logins over TCP/IP ("host" lines) are authenticated',
    severity: 'critical',
    stig: ['V-233519', 'V-261892'],
    source: 'hba',
    rationale:
      'trust over TCP lets anyone who reaches the port in as the named users; password sends it in clear text; md5 keeps replayable hashes; ident believes the client machine. Lines the server cannot parse are reported here too: with one, the server ignores the whole edited file at reload and will not start.',
    remediation: `Edit the listed lines of pg_hba.conf to use scram-sha-256, cert or gss, and correct invalid lines, ${RELOAD}`,
    evaluate: async (ctx) => {
      const rules = await ctx.hbaRules();
      const host = rules.filter((r) => r.type !== 'local');
      const findings = [
        ...methodFindings(host.filter((r) => r.error === null)),
        // A line too broken to have a type is most likely a mistyped host line.
        ...errorFindings(rules.filter((r) => r.type !== 'local')),
      ];
      return outcomeOf(findings, { hostLines: host.length });
    },
  }),
  cis({
    cis: '5.8',
    section: Section.connection,
    title: 'Connections from other machines must use TLS',
    severity: 'high',
    source: 'hba',
    rationale:
      'A host or hostnossl line accepts unencrypted connections: passwords (for clear-text methods), queries and results cross the network readable and alterable. Lines matching only loopback addresses, localhost or samehost are not reported: that traffic never leaves the machine.',
    remediation: `Change the listed host/hostnossl lines to hostssl (or hostgssenc), ${RELOAD}`,
    evaluate: async (ctx) => {
      const lines = await hostLines(ctx);
      const findings: Finding[] = [];
      for (const rule of lines) {
        if (rule.type !== 'host' && rule.type !== 'hostnossl') continue;
        if (stayOnHost(hbaAddress(rule.address, rule.netmask))) continue;
        findings.push({
          object: lineObject(rule),
          message:
            rule.type === 'host'
              ? `host line accepts connections from ${addressText(rule)} without TLS`
              : `hostnossl line accepts only unencrypted connections from ${addressText(rule)}`,
          evidence: lineEvidence(rule),
        });
      }
      return outcomeOf(findings, {
        tlsLines: lines.filter((r) => r.type === 'hostssl' || r.type === 'hostgssenc').length,
      });
    },
  }),
  cis({
    cis: '5.9',
    section: Section.connection,
    title: 'Authorized client address ranges are not too large',
    severity: 'critical',
    source: 'hba',
    rationale:
      'A line open to any address (0.0.0.0/0, ::/0, all) exposes logins to the whole network or internet; ranges over 65,536 IPv4 addresses (or wider than an IPv6 /64) are rarely all clients. reject lines are ignored: they narrow access.',
    remediation: `Narrow the listed lines to the client subnets or hosts that need access, ${RELOAD}`,
    evaluate: async (ctx) => {
      const findings: Finding[] = [];
      for (const rule of await hostLines(ctx)) {
        const severity = rangeSeverity(hbaAddress(rule.address, rule.netmask));
        if (severity === null) continue;
        findings.push({
          object: lineObject(rule),
          message: `${rule.type} line admits ${addressText(rule)}`,
          evidence: lineEvidence(rule),
          severity,
        });
      }
      return outcomeOf(findings);
    },
  }),
  cis({
    cis: '5.10',
    section: Section.connection,
    title: 'TCP/IP lines name specific databases and users',
    severity: 'low',
    source: 'hba',
    rationale:
      'A line for all databases or all users grants network access to roles and databases created later, without anyone deciding it. reject lines are ignored.',
    remediation: `Replace all in the listed lines with the databases and users (or +groups) that need access, ${RELOAD}`,
    evaluate: async (ctx) => {
      const findings: Finding[] = [];
      for (const rule of await hostLines(ctx)) {
        const wide = [
          ...(rule.database.includes('all') ? ['all databases'] : []),
          ...(rule.userName.includes('all') ? ['all users'] : []),
        ];
        if (wide.length === 0) continue;
        findings.push({
          object: lineObject(rule),
          message: `${rule.type} line allows ${wide.join(' and ')}`,
          evidence: lineEvidence(rule),
        });
      }
      return outcomeOf(findings);
    },
  }),
  cis({
    cis: '5.11',
    section: Section.connection,
    title: 'Superusers cannot log in from other machines',
    severity: 'high',
    source: 'hba',
    rationale:
      'A stolen superuser password used from anywhere is full control of the server and its host. Users are expanded the way the server does: all covers every superuser, +group its members (recursively), /regex matching names. Lines limited to loopback, localhost or samehost are local logins.',
    remediation: `Remove the superusers from the listed lines (name specific non-superuser roles or groups), and administer from the database host or through a bastion, ${RELOAD}`,
    evaluate: async (ctx) => {
      const lines = await hostLines(ctx);
      const supers = await loginSuperusers(ctx);
      const findings: Finding[] = [];
      for (const rule of lines) {
        if (stayOnHost(hbaAddress(rule.address, rule.netmask))) continue;
        const allowed = superusersAllowed(rule.userName, supers);
        if (allowed.length === 0) continue;
        findings.push({
          object: lineObject(rule),
          message: `${rule.type} line lets superuser${allowed.length > 1 ? 's' : ''} ${allowed.join(', ')} log in from ${addressText(rule)}`,
          evidence: { ...lineEvidence(rule), superusers: allowed },
        });
      }
      return outcomeOf(findings, { superusers: supers.map((s) => s.name) });
    },
  }),
];
