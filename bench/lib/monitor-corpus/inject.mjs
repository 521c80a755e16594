// Monitor corpus: which rules detect each attack class, who gets attacked, and when each instance runs.
import {
  accountCompromise,
  bruteForce,
  credentialStuffing,
  distributedBruteForce,
  passwordSpraying,
  tokenForgery,
  unusualAccess,
} from './attacks-auth.mjs';
import { auditTampering, privilegeEscalation } from './attacks-ddl.mjs';
import { massRead, rlsBypass, sqlInjection, superuserRemoteLogin } from './attacks-sessions.mjs';
import { DAY, entitySet } from './basics.mjs';

/** The rules whose alert counts as detecting an attack of each class. */
export const CLASS_RULES = {
  brute_force: ['pg-brute-force'],
  distributed_brute_force: ['pg-distributed-brute-force'],
  password_spraying: ['pg-password-spray', 'pg-password-spray-block'],
  credential_stuffing: ['pg-credential-stuffing', 'pg-success-from-attacking-address'],
  account_compromise: ['pg-account-compromise'],
  privilege_escalation: [
    'pg-privilege-escalation',
    'pg-security-definer-created',
    'pg-rls-disabled',
    'pg-policy-dropped',
    'pg-default-privileges-changed',
    'pg-copy-program',
    'pg-app-role-self-grant',
    'pg-app-admin-role-granted',
  ],
  audit_tampering: ['pg-audit-trigger-tampering', 'pg-audit-logging-changed', 'pg-protected-object-ddl'],
  rls_bypass: ['pg-rls-bypass-attempt', 'pg-rls-violation-burst'],
  sql_injection: ['pg-sql-injection-probe', 'pg-sql-error-burst', 'pg-sql-error-burst-address'],
  token_forgery: ['pg-token-forgery'],
  mass_read: ['pg-mass-read', 'pg-unusual-access'],
  superuser_remote_login: ['pg-superuser-remote-login'],
  unusual_access: ['pg-unusual-access'],
};

/** One function per class: `(env, start, i, day)` → what happened (kind, end, entities …). */
const GENERATORS = {
  brute_force: bruteForce,
  distributed_brute_force: distributedBruteForce,
  password_spraying: passwordSpraying,
  credential_stuffing: credentialStuffing,
  account_compromise: accountCompromise,
  privilege_escalation: privilegeEscalation,
  audit_tampering: auditTampering,
  rls_bypass: rlsBypass,
  sql_injection: sqlInjection,
  token_forgery: tokenForgery,
  mass_read: massRead,
  superuser_remote_login: superuserRemoteLogin,
  unusual_access: (env, _start, _i, day) => unusualAccess(env, day),
};

/**
 * Splits the users so that one attack does not spill into another's labels: `reserved` are users
 * with a history the analytics trusts (≥ 60 events by the measured day) for the unusual-access
 * attacks; `single()` hands out users attacked once (brute force, compromise, the working pairs
 * of a stuffing list, self-grant, look-alikes), round again only when the population is too small;
 * `crowd(n)` draws the accounts that sprays and stuffing lists only fail on.
 */
export function victimPools(env) {
  const { r, o, pop, b } = env;
  const users = r.shuffle(pop.users);
  const trusted = users.filter((u) => (b.counts.get(u.id) ?? 0) >= 60);
  env.established = trusted.length;
  env.reserved = trusted.slice(0, o.classes.includes('unusual_access') ? o.attacksPerClass : 0);
  const rest = users.filter((u) => !env.reserved.includes(u));
  // Failures alone name no user in an alert, so sprays and stuffing lists may share a small crowd;
  // everyone an attack gets into (or guesses at ten times) is used once.
  const crowd = rest.slice(0, Math.min(40, Math.floor(rest.length / 3)));
  const singles = rest.slice(crowd.length);
  let next = 0;
  env.single = () => singles[next++ % singles.length];
  env.crowd = (n) => r.shuffle(crowd).slice(0, n);
  if (env.reserved.length < (o.classes.includes('unusual_access') ? o.attacksPerClass : 0)) {
    throw new Error(
      `only ${trusted.length} users have enough history for ${o.attacksPerClass} unusual-access attacks: add users or warm-up days`,
    );
  }
}

/** Each class's instances spread over the measured day, one per slot of 24 h / n. */
export function injectAttacks(env, day) {
  const { r, o, pop } = env;
  env.readers = r.shuffle([...pop.analysts, ...pop.support, ...pop.services]);
  for (const cls of o.classes) {
    const slot = DAY / o.attacksPerClass;
    for (let i = 0; i < o.attacksPerClass; i++) {
      const start = day + i * slot + r.float(0.05, 0.55) * slot;
      const out = GENERATORS[cls](env, start, i, day);
      const label = {
        id: `${cls}#${i + 1}`,
        class: cls,
        kind: out.kind,
        rules: CLASS_RULES[cls],
        primary: out.primary ?? CLASS_RULES[cls][0],
        start: Math.round(out.start ?? start),
        end: Math.round(out.end),
        detectable: Math.round(out.detectable ?? out.start ?? start),
        entities: entitySet(out.entities),
      };
      // Whatever else the generator reported (attempts, rows, hits …) stays on the label for the report.
      const facts = Object.fromEntries(Object.entries(out).filter(([k]) => !(k in label)));
      env.attacks.push({ ...label, ...facts });
    }
  }
}
