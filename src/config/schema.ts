import { z } from 'zod';

/** The three install tiers; each includes the one before it. */
export const tierNames = ['basic', 'standard', 'advanced'] as const;
export type TierName = (typeof tierNames)[number];

const roleIdent = /^[a-z_][a-z0-9_]{0,30}$/;

// The URI forms node-postgres understands. Checked here so a typo is a config error naming the
// key (PW100, exit 2), not a crash inside the driver; the message never echoes the value.
function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return ['postgres:', 'postgresql:'].includes(url.protocol) && (url.port === '' || /^\d+$/.test(url.port));
  } catch {
    return false;
  }
}

// Booleans from env vars and flags: 'true'/'false'/'1'/'0'/'yes'/'no' (z.coerce would read 'false' as true).
const flag = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const t = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(t)) return true;
  if (['false', '0', 'no', 'off'].includes(t)) return false;
  return v;
}, z.boolean());

// Lists from env vars and flags come as comma-separated strings.
const list = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((w) => w.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

/**
 * The one schema every config source is validated against. Defaults live here, so the schema is
 * also the documentation of every key (see `pgwarden init`).
 */
export const configSchema = z
  .object({
    database: z
      .object({
        /** libpq URI; wins over `DATABASE_URL` and `PG*`; empty means "not given". */
        url: z
          .string()
          .refine((v) => v === '' || isPostgresUrl(v), {
            message: 'expected a postgresql://user@host:port/database URI',
          })
          .optional(),
        /** Database used on the embedded cluster. */
        name: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)
          .default('pgwarden'),
        connectTimeoutMs: z.coerce.number().int().positive().default(10_000),
        statementTimeoutMs: z.coerce.number().int().nonnegative().default(60_000),
      })
      .strict()
      .prefault({}),
    embedded: z
      .object({
        /** Where the embedded cluster keeps its data, relative to the working directory. */
        dir: z.string().min(1).default('.pgwarden'),
        /** Fixed port; 0 picks a free loopback port. */
        port: z.coerce.number().int().min(0).max(65535).default(0),
        /** OS user that runs the server when pgwarden runs as root. */
        osUser: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/)
          .default('postgres'),
        /** Another PostgreSQL installation's bin directory instead of the embedded binaries. */
        bindir: z.string().optional(),
      })
      .strict()
      .prefault({}),
    install: z
      .object({
        tier: z.enum(tierNames).default('advanced'),
        /** Prefix of the cluster-wide role names (`pgw_owner`, `pgw_authenticator`, …). */
        rolePrefix: z
          .string()
          .regex(roleIdent, 'lowercase letters, digits and _; at most 31 characters')
          .default('pgw_'),
        /** How long to wait for another installer holding the install lock. */
        lockTimeoutMs: z.coerce.number().int().positive().default(300_000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** `iss` of the access tokens this service issues. */
        issuer: z.string().min(1).max(200).default('pgwarden'),
        /** `aud` of the access tokens; the APIs that accept them check it. */
        audience: z.string().min(1).max(200).default('pgwarden-api'),
        /** Access-token lifetime. Short: revocation reaches services that do not check `sid` within it. */
        accessTokenTtlSeconds: z.coerce.number().int().min(60).max(3600).default(900),
        /** Signing algorithm of new JWT keys. */
        signingAlg: z.enum(['EdDSA', 'ES256']).default('EdDSA'),
        /** Master key (32 bytes, base64) sealing TOTP secrets and JWT private keys; wins over masterKeyFile. */
        masterKey: z.string().optional(),
        /** File holding the master key; created (mode 0600) on first use when missing. */
        masterKeyFile: z.string().min(1).default('.pgwarden/master.key'),
        /** Minimum password length in code points (ASVS 6.2.1; 800-63B-4 asks 15 for password-only accounts). */
        passwordMinLength: z.coerce.number().int().min(8).max(64).default(8),
        passwordMaxLength: z.coerce.number().int().min(64).max(1024).default(256),
        /** Words a password may not contain besides the user's own e-mail and name (ASVS 6.2.11). */
        productWords: list(z.string().min(3).max(64)).default(['pgwarden']),
        /** argon2id memory in KiB, iterations and lanes; never below OWASP's m=19456, t=2, p=1. */
        argon2MemoryKib: z.coerce.number().int().min(19_456).max(1_048_576).default(19_456),
        argon2TimeCost: z.coerce.number().int().min(2).max(20).default(2),
        argon2Parallelism: z.coerce.number().int().min(1).max(16).default(1),
        /** Concurrent argon2 operations (0: one per CPU); bounds memory under a login flood. */
        hashConcurrency: z.coerce.number().int().min(0).max(256).default(0),
        /** Logins waiting for a hashing slot before new ones get 503. */
        hashQueueLimit: z.coerce.number().int().min(1).max(100_000).default(256),
        /** HTTP listen address and port of `pgwarden serve auth`. */
        host: z.string().min(1).default('127.0.0.1'),
        port: z.coerce.number().int().min(0).max(65535).default(8787),
        bodyLimitBytes: z.coerce.number().int().min(1024).max(1_048_576).default(16_384),
        /** Proxies in front of the service whose X-Forwarded-For is trusted (0: none). */
        trustProxy: z.coerce.number().int().min(0).max(10).default(0),
        /** Requests per minute per client address, in bursts of up to rateLimitBurst. */
        rateLimitPerMinute: z.coerce.number().int().min(1).default(300),
        rateLimitBurst: z.coerce.number().int().min(1).default(60),
        /** `admin`: POST /register needs an admin token. `open`: anyone may sign up, into openRegistrationTenant. */
        registration: z.enum(['admin', 'open']).default('admin'),
        openRegistrationTenant: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/)
          .default('default'),
        /** Issuer shown in authenticator apps. */
        totpIssuer: z.string().min(1).max(100).default('pgwarden'),
        /** Application role (in `roles`) allowed to use the admin endpoints. */
        adminRole: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,62}$/)
          .default('admin'),
        /** Admin endpoints need an aal2 (MFA) session. */
        adminRequiresMfa: flag.default(true),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /**
         * Set up WAL capture (logical decoding) when `pgwarden up` starts and the server allows it
         * (wal_level = logical, a REPLICATION login): tables enabled afterwards are captured from the
         * log, off their writers' path.
         */
        walCapture: flag.default(true),
        /** How often `pgwarden up` applies the decoded log to the trail (0: never). */
        captureIntervalMs: z.coerce.number().int().min(0).max(3_600_000).default(1_000),
      })
      .strict()
      .prefault({}),
    ledger: z
      .object({
        /** Sign checkpoints with ML-DSA-65 as well as Ed25519 (set when the ledger is first set up). */
        hybrid: flag.default(true),
        /** The log's name in its checkpoints; default `pgwarden.ledger/<database>/<random>`, chosen once. */
        origin: z
          .string()
          .regex(/^[!-*,-~]{1,200}$/, 'printable ASCII without spaces or "+"')
          .optional(),
        /** How often `pgwarden up` seals (0: never). */
        sealIntervalMs: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
        /** Rows per sealing transaction and checkpoint. */
        batchSize: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
        /** A directory witness (write-once storage mounted from elsewhere) that keeps every checkpoint. */
        witnessDir: z.string().min(1).optional(),
        /** An HTTP witness (c2sp.org/tlog-witness add-checkpoint endpoint). */
        witnessUrl: z.string().url().optional(),
        /** Print each checkpoint to stdout as a witness (for log shippers). */
        witnessStdout: flag.default(false),
        /** The key-history verifier key to trust in `audit verify` (pin it outside the database). */
        historyKey: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    check: z
      .object({
        /** Schemas an API exposes; empty: every schema a pgwarden request role or PUBLIC may use. */
        exposedSchemas: list(z.string().min(1).max(63)).default([]),
        /** Roles allowed to be superuser or BYPASSRLS besides the bootstrap superuser. */
        dbaRoles: list(z.string().min(1).max(63)).default([]),
        /** Host checks (files, modes, processes): auto runs them when the server's data directory is on this machine. */
        host: z.enum(['auto', 'on', 'off']).default('auto'),
        /** Every statement of a scan is cancelled after this long. */
        statementTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
        /** Exit non-zero when an open finding is at least this severe (none: never). */
        failOn: z.enum(['critical', 'high', 'medium', 'low', 'info', 'none']).default('high'),
        /** Baseline file of accepted findings and waivers (YAML or JSON). */
        baseline: z.string().min(1).optional(),
        /** The ledger must have been verified within this many hours (PGW checks). */
        ledgerMaxAgeHours: z.coerce
          .number()
          .min(1)
          .max(24 * 365)
          .default(24),
        /** Audit rows must be sealed within this many seconds (PGW checks). */
        sealerMaxLagSeconds: z.coerce
          .number()
          .int()
          .min(1)
          .max(86_400 * 30)
          .default(300),
        /** Targets scanned at once by `pgwarden check --targets`. */
        concurrency: z.coerce.number().int().min(1).max(64).default(4),
      })
      .strict()
      .prefault({}),
    monitor: z
      .object({
        /** `pgwarden up` starts the monitor too (where the monitor module is installed). */
        enabled: flag.default(true),
        /** Address of the monitor's HTTP server (dashboard, /metrics, /live, /ready). */
        host: z.string().min(1).default('127.0.0.1'),
        /** Its port; 0 picks a free one. */
        port: z.coerce.number().int().min(0).max(65535).default(8788),
        /** Serve the dashboard (login through pgwarden's auth, roles security_admin and auditor). */
        dashboard: flag.default(true),
        /**
         * A tenant whose role assignments also open the dashboard (`pgwarden rbac grant <user>
         * security_admin --tenant <it>`); without it only global roles (auth.users.roles) count.
         */
        dashboardAdminTenant: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/)
          .optional(),
        /** URL people reach the dashboard at, put in alerts as a link; default: the server's own. */
        publicUrl: z.string().url().optional(),
        /** Hops of X-Forwarded-For trusted (0: the socket address only; M-14). */
        trustProxy: z.coerce.number().int().min(0).max(10).default(0),
        /**
         * The server log: `auto` tails the log directory when this machine has it (else reads it
         * through pg_read_file when the login may), `file` requires the directory, `sql` reads
         * through pg_read_file, `off` reads no server log.
         */
        serverLog: z.enum(['auto', 'file', 'sql', 'off']).default('auto'),
        /** The log directory to tail; default: the server's log_directory, resolved against its data directory. */
        logDirectory: z.string().min(1).optional(),
        /** Which log to read; auto: jsonlog, else csvlog, else stderr, by log_destination. */
        logFormat: z.enum(['auto', 'jsonlog', 'csvlog', 'stderr']).default('auto'),
        /** Extra rule files or directories (YAML), loaded after the built-in pack. */
        rules: list(z.string().min(1)).default([]),
        /** Rule ids switched off. */
        disableRules: list(z.string().min(1)).default([]),
        /** The built-in PostgreSQL rule pack. */
        builtinRules: flag.default(true),
        /**
         * Per-rule settings replacing the rule's own (config file only), validated by the rule
         * loader (PW602): `{ pg-mass-read: { threshold: { sum: { fields.rows: 500000 } }, window: 30m } }`;
         * keys threshold, window, severity, suppress, enabled.
         */
        ruleOverrides: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
        /** pg_stat_activity / pg_stat_statements / pg_stat_user_tables sampling interval (0: off). */
        statsIntervalMs: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
        /** Safety-net poll of the security-event log besides LISTEN/NOTIFY. */
        pollIntervalMs: z.coerce.number().int().min(100).max(600_000).default(5_000),
        /** The monitor writes a heartbeat this often. */
        heartbeatIntervalMs: z.coerce.number().int().min(500).max(600_000).default(5_000),
        /**
         * This monitor's name in monitor.heartbeats and monitor.rule_state (what `monitor watchdog
         * --instance` names). Default: host, process id and a random part for the heartbeat, the
         * host name for the rule windows kept across a restart.
         */
        instance: z.string().min(1).max(200).optional(),
        /** `pgwarden monitor watchdog` alerts when the heartbeat is older than this. */
        watchdogMaxAgeSeconds: z.coerce.number().int().min(2).max(86_400).default(30),
        /** A user-behaviour risk score at or above this raises an anomaly alert. */
        riskThreshold: z.coerce.number().int().min(1).max(100).default(70),
        /** Where alerts go (config file only): webhook, slack, smtp, syslog, pagerduty. Secrets as env:NAME or file:PATH. */
        sinks: z.array(z.record(z.string(), z.unknown())).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** The validated, fully defaulted configuration. */
export type PgwardenConfig = z.output<typeof configSchema>;
/** What a user may write: every key optional. */
export type PgwardenConfigInput = z.input<typeof configSchema>;
