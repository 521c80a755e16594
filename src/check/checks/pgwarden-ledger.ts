import { sqlLiteral } from '../sql-text.js';
import { type ScanContext } from '../scan-context.js';
import type { Finding, Outcome, Severity } from '../types.js';
import { day, applicable, read, asAuditor, iso, fail } from './pgwarden-support.js';

// PGW-004…007: ledger verification and sealing, stored password hashes, JWT signing keys.
export async function ledgerVerified(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'ledger');
  if (na) return na;
  const [r] = await read<{ initialised: Date | null; verified: Date | null; tampered: Date | null }>(
    ctx,
    'pgw.ledger.verification',
    `select (select pg_catalog.min(k.created_at) from ledger.key_history k
              where exists (select 1 from ledger.state)) as initialised,
            (select pg_catalog.max(e.occurred_at) from logs.notification_log e where e.event_type = 'ledger.verified') as verified,
            (select pg_catalog.max(e.occurred_at) from logs.notification_log e where e.event_type = 'ledger.tamper_detected') as tampered`,
    [],
    asAuditor,
  );
  if (!r?.initialised) {
    return fail(
      [
        {
          object: 'ledger.state',
          message: 'the ledger is installed but not initialised: audit rows and security events are not sealed',
          evidence: { initialised: false },
          severity: 'medium',
        },
      ],
      {},
    );
  }
  const maxAgeMs = ctx.settings.ledgerMaxAgeHours * 3_600_000;
  const evidence = { lastVerifiedAt: iso(r.verified), maxAgeHours: ctx.settings.ledgerMaxAgeHours };
  if (r.tampered && (!r.verified || r.tampered >= r.verified)) {
    return fail(
      [
        {
          object: 'ledger',
          message: `the last verification of the ledger found tampering (${r.tampered.toISOString()})`,
          evidence: { ...evidence, tamperDetectedAt: iso(r.tampered) },
          severity: 'critical',
        },
      ],
      {},
    );
  }
  const since = r.verified ?? r.initialised;
  if (ctx.now.getTime() - since.getTime() <= maxAgeMs) {
    return { verdict: 'pass', evidence: r.verified ? evidence : { ...evidence, initialisedAt: iso(r.initialised) } };
  }
  const hours = Math.floor((ctx.now.getTime() - since.getTime()) / 3_600_000);
  return fail(
    [
      {
        object: 'ledger',
        message: r.verified
          ? `the ledger was last verified ${hours} hours ago (at most ${ctx.settings.ledgerMaxAgeHours} allowed)`
          : `the ledger has never been verified (initialised ${hours} hours ago)`,
        evidence: { ...evidence, initialisedAt: iso(r.initialised) },
      },
    ],
    {},
  );
}

// The first unsealed row of each source in sealing order (txid, id), past the sealer's cursor
// (see lowerBound in src/audit/ledger/sealer.ts): an index range scan, however far behind.
export const unsealedSql = `
  with s as (select cursor_txid, cursor_source, cursor_id, tree_size from ledger.state)
  select s.tree_size::text as "treeSize",
         (select r.recorded_at from audit.row_changes r
           where (r.txid, r.id) > (s.cursor_txid, case when s.cursor_source = 1 then s.cursor_id
                                                       when s.cursor_source > 1 then 9223372036854775807 else -1 end)
           order by r.txid, r.id limit 1) as "audit.row_changes",
         (select e.occurred_at from logs.notification_log e
           where (e.txid, e.id) > (s.cursor_txid, case when s.cursor_source = 2 then s.cursor_id else -1 end)
           order by e.txid, e.id limit 1) as "logs.notification_log"
    from s`;

export async function sealerLag(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'ledger');
  if (na) return na;
  const [row] = await read<Record<string, Date | null> & { treeSize: string }>(
    ctx,
    'pgw.ledger.unsealed',
    unsealedSql,
    [],
    asAuditor,
  );
  if (!row) return { verdict: 'not_applicable', reason: 'the ledger is not initialised (PGW-004 reports it)' };
  const max = ctx.settings.sealerMaxLagSeconds;
  const findings: Finding[] = [];
  for (const table of ['audit.row_changes', 'logs.notification_log']) {
    const oldest = row[table] as Date | null;
    const lag = oldest ? Math.floor((ctx.now.getTime() - oldest.getTime()) / 1000) : 0;
    if (!oldest || lag <= max) continue;
    findings.push({
      object: table,
      message: `rows of ${table} wait ${lag} s to be sealed into the ledger (at most ${max} s allowed): is the sealer running?`,
      evidence: {
        oldestUnsealedAt: oldest.toISOString(),
        lagSeconds: lag,
        maxLagSeconds: max,
        treeSize: Number(row.treeSize),
      },
    });
  }
  return fail(findings, { maxLagSeconds: max, treeSize: Number(row.treeSize) });
}

// OWASP Password Storage Cheat Sheet: argon2id with any of these (memory KiB, iterations), p=1;
// bcrypt with a work factor of at least 10.
export const owaspArgon2 = [
  { m: 47_104, t: 1 },
  { m: 19_456, t: 2 },
  { m: 12_288, t: 3 },
  { m: 9_216, t: 4 },
  { m: 7_168, t: 5 },
];

export function hashWeakness(
  algorithm: string,
  params: Record<string, unknown>,
): { severity: Severity; why: string } | null {
  const num = (k: string) => (typeof params[k] === 'number' ? (params[k] as number) : NaN);
  if (algorithm.startsWith('argon2')) {
    const [m, t] = [num('m'), num('t')];
    if (!owaspArgon2.some((c) => m >= c.m && t >= c.t)) {
      return { severity: 'medium', why: `cost below OWASP's minimum (m=${m} KiB, t=${t})` };
    }
    if (algorithm !== 'argon2id') return { severity: 'low', why: `${algorithm} rather than argon2id` };
    if (num('v') !== 19) return { severity: 'low', why: `argon2 version ${String(params.v)} rather than 19` };
    return null;
  }
  if (algorithm === 'bcrypt-sha256') {
    const r = num('r');
    return r >= 10 ? null : { severity: 'medium', why: `bcrypt cost ${r} below 10` };
  }
  return { severity: 'medium', why: `an algorithm pgwarden does not issue (${algorithm})` };
}

export async function passwordHashes(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'auth');
  if (na) return na;
  // Only the algorithm and its parameters: never a hash.
  const groups = await read<{ algorithm: string; params: Record<string, unknown>; accounts: number }>(
    ctx,
    'pgw.auth.hashes',
    `select algorithm, params, pg_catalog.count(*)::int as accounts from auth.credentials
      group by algorithm, params order by algorithm, params::text`,
    [],
    'grant select (algorithm, params) on auth.credentials to the scanning login',
  );
  const findings: Finding[] = [];
  for (const g of groups) {
    const weak = hashWeakness(g.algorithm, g.params);
    if (!weak) continue;
    const shown = ['v', 'm', 't', 'p', 'r']
      .filter((k) => g.params[k] !== undefined)
      .map((k) => `${k}=${String(g.params[k])}`);
    findings.push({
      object: `auth.credentials: ${g.algorithm} ${shown.join(',')}`.trim(),
      message: `${g.accounts} password hash(es) use ${g.algorithm}: ${weak.why}`,
      evidence: {
        algorithm: g.algorithm,
        params: Object.fromEntries(shown.map((s) => s.split('='))),
        accounts: g.accounts,
      },
      severity: weak.severity,
    });
  }
  return fail(findings, { accounts: groups.reduce((n, g) => n + g.accounts, 0) });
}

/** Longest access-token lifetime the config allows (auth.accessTokenTtlSeconds) plus the 60 s skew the service adds. */
export const maxPublishedAfterRetirementMs = (3600 + 60) * 1000;
/** NIST SP 800-57 Part 1: a private signature key's cryptoperiod is one to three years. */
export const maxActiveKeyAgeDays = 365;

interface KeyRow {
  kid: string;
  alg: string;
  privateParts: boolean;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export function keyFindings(k: KeyRow, now: number): Finding[] {
  const out: Finding[] = [];
  const object = `signing key ${k.kid}`;
  const evidence = {
    kid: k.kid,
    alg: k.alg,
    createdAt: iso(k.createdAt),
    retiredAt: iso(k.retiredAt),
    expiresAt: iso(k.expiresAt),
  };
  if (k.privateParts) {
    out.push({
      object,
      message: `the published JWK of ${k.kid} holds private key material`,
      evidence,
      severity: 'critical',
    });
  }
  if (k.alg !== 'EdDSA' && k.alg !== 'ES256') {
    out.push({ object, message: `${k.kid} signs with ${k.alg}, not EdDSA or ES256`, evidence, severity: 'high' });
  }
  if (!k.retiredAt && k.expiresAt && k.expiresAt.getTime() <= now) {
    out.push({
      object,
      message: `${k.kid} expired at ${iso(k.expiresAt)} but still signs tokens`,
      evidence,
      severity: 'medium',
    });
  }
  if (k.retiredAt && k.expiresAt && k.expiresAt.getTime() > now) {
    if (k.expiresAt.getTime() - k.retiredAt.getTime() > maxPublishedAfterRetirementMs) {
      out.push({
        object,
        message: `retired key ${k.kid} stays published until ${iso(k.expiresAt)}, past the longest access-token lifetime`,
        evidence,
        severity: 'medium',
        fix: [
          {
            sql: `update auth.signing_keys set expires_at = retired_at + interval '3660 seconds' where kid = ${sqlLiteral(k.kid)} and retired_at is not null;`,
            safety: 'manual',
          },
        ],
      });
    }
  }
  if (!k.retiredAt && now - k.createdAt.getTime() > maxActiveKeyAgeDays * day) {
    const days = Math.floor((now - k.createdAt.getTime()) / day);
    out.push({ object, message: `${k.kid} has signed for ${days} days without rotation`, evidence, severity: 'low' });
  }
  return out;
}

export async function signingKeys(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'auth');
  if (na) return na;
  const keys = await read<KeyRow>(
    ctx,
    'pgw.auth.keys',
    `select kid, alg, public_jwk ?| array['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as "privateParts",
            created_at as "createdAt", retired_at as "retiredAt", expires_at as "expiresAt"
       from auth.signing_keys order by created_at, kid`,
    [],
    'grant select (kid, alg, public_jwk, created_at, retired_at, expires_at) on auth.signing_keys to the scanning login',
  );
  if (keys.length === 0) {
    return {
      verdict: 'not_applicable',
      reason: 'no JWT signing key yet (the auth service creates one when it first starts)',
    };
  }
  const now = ctx.now.getTime();
  const findings = keys.flatMap((k) => keyFindings(k, now));
  const active = keys.filter((k) => !k.retiredAt);
  if (active.length > 1) {
    findings.push({
      object: 'auth.signing_keys',
      message: `${active.length} JWT signing keys are active at once: which one signs is undefined`,
      evidence: { active: active.map((k) => k.kid) },
      severity: 'medium',
    });
  }
  return fail(findings, { keys: keys.length, active: active.map((k) => k.kid) });
}

/**
 * pgwarden's own controls (PGW-nnn): the installation, row and DDL audit, the ledger's
 * verification and its sealer, stored password hashes and JWT signing keys. On a database
 * without pgwarden each is not applicable; what the scanning login may not read is not evaluated.
 *
 * @example
 * const report = await scanDatabase(connection, { only: ['pgwarden'], ledgerMaxAgeHours: 12 });
 */
