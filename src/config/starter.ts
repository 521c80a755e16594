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
  # basic: auth and security events; standard: + RBAC, RLS, audit; advanced: + ledger, encryption.
  tier: advanced
  # Prefix of the cluster-wide role names (pgw_owner, pgw_authenticator, pgw_anon, ...).
  rolePrefix: pgw_
  # How long an installer waits for another one holding the install lock.
  lockTimeoutMs: 300000

log:
  # fatal | error | warn | info | debug | trace | silent
  level: info
`;
