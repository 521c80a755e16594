/**
 * The commented starter config `pgwarden init` writes. Every key is optional; the values shown
 * are the defaults. Kept next to the schema so the two change together.
 */
export const starterConfigYaml = `# pgwarden configuration. Precedence: defaults < this file < PGWARDEN_* environment < flags.
# Every key is optional; the values below are the defaults. \`pgwarden config --print\` shows the
# effective config with secrets masked.

database:
  # libpq URI of the server to protect. Leave unset to use DATABASE_URL, then the PG* variables,
  # then the embedded PostgreSQL. Prefer DATABASE_URL over writing a password in this file.
  # url: postgresql://admin@db.example.com:5432/app?sslmode=verify-full
  # Database created and used on the embedded cluster.
  name: pgwarden
  connectTimeoutMs: 10000
  statementTimeoutMs: 60000

embedded:
  # Data directory of the embedded PostgreSQL, relative to the working directory.
  dir: .pgwarden
  # 0 picks a free loopback port each start.
  port: 0
  # When pgwarden runs as root, the server runs as this unprivileged OS user.
  osUser: postgres
  # Use another PostgreSQL installation's binaries instead of the embedded ones.
  # bindir: /usr/lib/postgresql/15/bin

install:
  # basic: identity (auth) and security events; standard: + RBAC, RLS, audit; advanced: + ledger, encryption.
  tier: advanced
  # Prefix of the cluster-wide role names (pgw_owner, pgw_authenticator, pgw_anon, ...).
  rolePrefix: pgw_
  # How long an installer waits for another one holding the install lock.
  lockTimeoutMs: 300000

log:
  # fatal | error | warn | info | debug | trace | silent
  level: info

auth:
  # The auth service (pgwarden serve auth, and pgwarden up): docs/auth.md.
  # 32-byte master key (base64) sealing TOTP secrets and JWT private keys. Set it through
  # PGWARDEN_AUTH_MASTER_KEY from a secret manager rather than here; without it, masterKeyFile
  # is used (created with mode 0600 on first use).
  # masterKey: <base64 of 32 random bytes>
  masterKeyFile: .pgwarden/master.key
  issuer: pgwarden
  audience: pgwarden-api
  # Access-token lifetime (60-3600 s); EdDSA or ES256 for new signing keys.
  accessTokenTtlSeconds: 900
  signingAlg: EdDSA
  # 8 follows ASVS L1; NIST SP 800-63B-4 asks 15 where a password is the only factor.
  passwordMinLength: 8
  passwordMaxLength: 256
  productWords: [pgwarden]
  # argon2id cost; never below OWASP's m=19456 KiB, t=2, p=1.
  argon2MemoryKib: 19456
  argon2TimeCost: 2
  argon2Parallelism: 1
  # Concurrent hashes (0: one per CPU) and logins allowed to wait for one (then 503).
  hashConcurrency: 0
  hashQueueLimit: 256
  host: 127.0.0.1
  port: 8787
  bodyLimitBytes: 16384
  # Number of proxies in front whose X-Forwarded-For is trusted.
  trustProxy: 0
  rateLimitPerMinute: 300
  rateLimitBurst: 60
  # admin: only an admin may register users (POST /register); open: anyone signs up into openRegistrationTenant.
  registration: admin
  openRegistrationTenant: default
  totpIssuer: pgwarden
  adminRole: admin
  adminRequiresMfa: true

audit:
  # Row-change capture from the write-ahead log (docs/audit.md): pgwarden up sets it up when
  # wal_level = logical and its login may replicate, then applies the log every captureIntervalMs.
  walCapture: true
  captureIntervalMs: 1000

ledger:
  # The tamper-evident ledger over the audit trail (advanced tier): docs/audit.md.
  # Checkpoints are signed with Ed25519, and with ML-DSA-65 too when hybrid (chosen at set-up).
  hybrid: true
  # origin: pgwarden.ledger/<database>/<random>   (chosen once, at set-up)
  # pgwarden up seals every sealIntervalMs (0: never), batchSize rows per checkpoint.
  sealIntervalMs: 5000
  batchSize: 10000
  # Witnesses that keep every checkpoint outside the database.
  # witnessDir: /mnt/worm/pgwarden-witness
  # witnessUrl: https://witness.example/add-checkpoint
  witnessStdout: false
  # The key-history verifier key printed by "pgwarden audit keys"; pin it for "audit verify".
  # historyKey: <vkey>

check:
  # The compliance scanner (docs/check.md). Exposed schemas default to those a request role can use.
  # exposedSchemas: [api]
  # Roles allowed superuser or BYPASSRLS besides the bootstrap superuser.
  # dbaRoles: [dba_alice]
  host: auto            # auto | on | off: file, mode and process checks on the database host
  statementTimeoutMs: 10000
  failOn: high          # pgwarden check exits 1 on an open finding this severe (none: never)
  # baseline: pgwarden-baseline.yaml   (accepted findings and waivers with reason and expiry)
  ledgerMaxAgeHours: 24
  sealerMaxLagSeconds: 300
  concurrency: 4        # targets scanned at once with --targets
`;
