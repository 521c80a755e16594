-- auth 0002: the auth schema and its tables: users, credentials, sessions, refresh-token
-- families, throttle state, MFA factors and recovery codes, JWT signing keys, and the policy.
--
-- Secrets are never stored in clear: passwords as PHC hashes made by the caller (argon2id in
-- Node) or by auth.hash_password() (bcrypt over an HMAC-SHA-256 pre-hash, SQL-only clients);
-- session, refresh and MFA-challenge tokens as SHA-256 digests; TOTP secrets and JWT private
-- keys sealed with AES-256-GCM under a master key the database never sees.
--
-- No role holds privileges on these tables: everything goes through the functions of the later
-- files, which enforce the rules (throttling, rotation, revocation) in one place.

create schema if not exists auth authorization {{role:owner}};
revoke all on schema auth from public;
comment on schema auth is 'pgwarden: identity: users, credentials, sessions, MFA, signing keys';

-- One row of tunables read by the auth functions. Changing it is an admin action (security_admin),
-- logged as auth.policy_changed; every value is bounded, so a policy change can loosen the
-- controls but never switch them off.
create table auth.policy (
  singleton              boolean  primary key default true check (singleton),
  -- sessions (ASVS 7.3.1 / 7.3.2); the defaults follow Keycloak's SSO session idle and max
  session_idle_timeout   interval not null default interval '30 minutes' check (session_idle_timeout between interval '1 minute' and interval '30 days'),
  session_max_lifetime   interval not null default interval '10 hours'   check (session_max_lifetime between interval '5 minutes' and interval '90 days'),
  -- a refresh token presented again within this window after its first use is refused without
  -- revoking the family: two tabs refreshing at once are a race, not a theft (RFC 9700 4.14)
  refresh_reuse_grace    interval not null default interval '10 seconds' check (refresh_reuse_grace between interval '0' and interval '1 minute'),
  -- throttling per (account, source network): no delay for the first delay_after - 1 failures,
  -- then 1 s, 2 s, 4 s … up to max_delay; a lock of lock_duration at lock_after failures
  delay_after            integer  not null default 5  check (delay_after between 1 and 20),
  lock_after             integer  not null default 10 check (lock_after >= delay_after and lock_after <= 50),
  max_delay              interval not null default interval '15 minutes' check (max_delay between interval '1 second' and interval '1 day'),
  lock_duration          interval not null default interval '15 minutes' check (lock_duration between interval '1 minute' and interval '1 day'),
  failure_memory         interval not null default interval '24 hours' check (failure_memory between interval '1 hour' and interval '30 days'),
  -- password verifications per account per hour from sources where the user never logged in,
  -- and per source network per hour across accounts (password spraying)
  account_hourly_cap     integer  not null default 100 check (account_hourly_cap between 1 and 100),
  source_hourly_cap      integer  not null default 300 check (source_hourly_cap between 1 and 100000),
  known_source_ttl       interval not null default interval '90 days' check (known_source_ttl between interval '1 day' and interval '1 year'),
  -- MFA challenge after a correct password
  mfa_challenge_ttl      interval not null default interval '5 minutes' check (mfa_challenge_ttl between interval '30 seconds' and interval '15 minutes'),
  mfa_challenge_attempts integer  not null default 5 check (mfa_challenge_attempts between 1 and 10),
  -- SQL-only password hashing (auth.hash_password)
  min_password_length    integer  not null default 8 check (min_password_length >= 8),
  max_password_length    integer  not null default 256 check (max_password_length >= 64),
  bcrypt_cost            integer  not null default 12 check (bcrypt_cost between 10 and 15)
);
alter table auth.policy owner to {{role:owner}};
insert into auth.policy default values;
comment on table auth.policy is 'pgwarden: identity policy read by the auth functions (one row)';

create table auth.users (
  id              uuid        primary key default pg_catalog.gen_random_uuid(),
  email           text        not null check (pg_catalog.length(email) <= 254 and email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  tenant          text        not null check (tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  display_name    text        check (pg_catalog.length(display_name) <= 200),
  roles           text[]      not null default '{}',
  -- bumped whenever the user's effective roles change; access tokens carry it (claim av)
  authz_version   bigint      not null default 1,
  status          text        not null default 'active' check (status in ('active', 'disabled')),
  status_reason   text,
  created_at      timestamptz not null default pg_catalog.clock_timestamp(),
  updated_at      timestamptz not null default pg_catalog.clock_timestamp()
);
alter table auth.users owner to {{role:owner}};
-- E-mail addresses are unique without regard to case (the local part is case-sensitive in
-- theory, never in practice, and two accounts differing by case invite takeover).
create unique index users_email_key on auth.users (pg_catalog.lower(email));
create index users_tenant_idx on auth.users (tenant);
comment on table auth.users is 'pgwarden: identities; e-mail unique case-insensitively';

-- Role-based access control: application roles (not PostgreSQL roles), their permissions, and
-- per-tenant assignments. The functions are in 0009.
create table auth.rbac_roles (
  name         text        primary key check (name ~ '^[a-z][a-z0-9_.:-]{0,62}$'),
  description  text        check (pg_catalog.length(description) <= 500),
  created_at   timestamptz not null default pg_catalog.clock_timestamp()
);
alter table auth.rbac_roles owner to {{role:owner}};
comment on table auth.rbac_roles is 'pgwarden: application roles (RBAC)';

create table auth.permissions (
  name         text        primary key check (name ~ '^[a-z][a-z0-9_.:-]{0,126}$'),
  description  text        check (pg_catalog.length(description) <= 500),
  created_at   timestamptz not null default pg_catalog.clock_timestamp()
);
alter table auth.permissions owner to {{role:owner}};
comment on table auth.permissions is 'pgwarden: permissions roles can hold (RBAC)';

create table auth.role_permissions (
  role        text not null references auth.rbac_roles (name) on delete cascade,
  permission  text not null references auth.permissions (name) on delete cascade,
  primary key (role, permission)
);
alter table auth.role_permissions owner to {{role:owner}};
create index role_permissions_permission_idx on auth.role_permissions (permission);

create table auth.role_assignments (
  user_id     uuid        not null references auth.users (id) on delete cascade,
  tenant      text        not null,
  role        text        not null references auth.rbac_roles (name) on delete cascade,
  granted_by  text        check (pg_catalog.length(granted_by) <= 200),
  granted_at  timestamptz not null default pg_catalog.clock_timestamp(),
  primary key (user_id, tenant, role)
);
alter table auth.role_assignments owner to {{role:owner}};
create index role_assignments_role_idx on auth.role_assignments (role);
comment on table auth.role_assignments is 'pgwarden: per-tenant role assignments (RBAC)';


create table auth.credentials (
  user_id        uuid        primary key references auth.users (id) on delete cascade,
  password_hash  text        not null check (password_hash ~ '^\$(argon2id|argon2i|argon2d|bcrypt-sha256)\$'),
  algorithm      text        not null,
  params         jsonb       not null default '{}'::jsonb,
  changed_at     timestamptz not null default pg_catalog.clock_timestamp()
);
alter table auth.credentials owner to {{role:owner}};
comment on table auth.credentials is 'pgwarden: password hashes in PHC format, never a password';

create table auth.sessions (
  id                   uuid        primary key default pg_catalog.gen_random_uuid(),
  user_id              uuid        not null references auth.users (id) on delete cascade,
  tenant               text        not null,
  created_at           timestamptz not null,
  last_seen_at         timestamptz not null,
  idle_expires_at      timestamptz not null,
  absolute_expires_at  timestamptz not null,
  client_addr          inet,
  user_agent           text        check (pg_catalog.length(user_agent) <= 512),
  aal                  text        not null check (aal in ('aal1', 'aal2')),
  amr                  text[]      not null default '{pwd}',
  -- digest of the opaque session token of SQL-only clients; null for JWT sessions
  token_digest         bytea       unique check (pg_catalog.length(token_digest) = 32),
  revoked_at           timestamptz,
  revoked_reason       text
);
alter table auth.sessions owner to {{role:owner}};
create index sessions_user_idx on auth.sessions (user_id) where revoked_at is null;
comment on table auth.sessions is 'pgwarden: login sessions with idle and absolute expiry';

-- Refresh tokens: one family per session, each token pointing at the one it replaced. At most
-- one active token per family (the unique index below), so a family can never fork.
create table auth.refresh_tokens (
  id            bigint      generated always as identity primary key,
  session_id    uuid        not null references auth.sessions (id) on delete cascade,
  parent_id     bigint      references auth.refresh_tokens (id) on delete cascade,
  token_digest  bytea       not null unique check (pg_catalog.length(token_digest) = 32),
  state         text        not null default 'active' check (state in ('active', 'used', 'revoked')),
  created_at    timestamptz not null,
  used_at       timestamptz
);
alter table auth.refresh_tokens owner to {{role:owner}};
create unique index refresh_tokens_one_active on auth.refresh_tokens (session_id) where state = 'active';
comment on table auth.refresh_tokens is 'pgwarden: refresh-token families (digests only), rotated on every use';

-- Throttle counters, keyed by digests so the table holds no typed e-mail or address in clear.
--   account_source: consecutive failures of one account from one source network (delay, lock)
--   account:        password verifications of one account in the current hour (the hourly cap)
--   source:         verifications from one source network in the current hour (spraying)
--   mfa:            consecutive wrong second-factor codes of one user, wherever they come from
create table auth.throttle (
  scope            text        not null check (scope in ('account_source', 'account', 'source', 'mfa')),
  key              bytea       not null,
  failures         integer     not null default 0,
  last_failure_at  timestamptz,
  retry_after      timestamptz,
  locked_until     timestamptz,
  window_start     timestamptz not null,
  window_count     integer     not null default 0,
  -- the previous hour's count, weighted into a sliding estimate so no 60-minute span sees twice
  -- the cap around an hour boundary
  prev_count       integer     not null default 0,
  primary key (scope, key)
);
alter table auth.throttle owner to {{role:owner}};
comment on table auth.throttle is 'pgwarden: login throttle state (digest keys)';

-- A random key made at install and readable by the owner only: throttle keys and the account
-- digests in events are HMACs under it, so whoever reads the event log cannot confirm a guessed
-- e-mail (or a password typed into the e-mail field) by hashing it.
create table auth.instance_secret (
  singleton  boolean primary key default true check (singleton),
  hmac_key   bytea   not null default {{pgcrypto}}.gen_random_bytes(32)
);
alter table auth.instance_secret owner to {{role:owner}};
insert into auth.instance_secret default values;

-- Sources (network digests) the user has logged in from: they keep working when the account's
-- hourly cap is reached by someone else, so the cap cannot lock the owner out (ASVS 6.1.1).
create table auth.known_sources (
  user_id          uuid        not null references auth.users (id) on delete cascade,
  source_key       bytea       not null,
  last_success_at  timestamptz not null,
  primary key (user_id, source_key)
);
alter table auth.known_sources owner to {{role:owner}};

create table auth.mfa_factors (
  id              uuid        primary key default pg_catalog.gen_random_uuid(),
  user_id         uuid        not null references auth.users (id) on delete cascade,
  kind            text        not null default 'totp' check (kind = 'totp'),
  status          text        not null default 'pending' check (status in ('pending', 'active')),
  -- AES-256-GCM ciphertext of the TOTP secret, sealed by the service under the master key
  secret_sealed   bytea       not null,
  master_key_id   text        not null,
  -- the last accepted time step: a code is accepted once (RFC 6238 section 5.2)
  last_used_step  bigint,
  created_at      timestamptz not null default pg_catalog.clock_timestamp(),
  activated_at    timestamptz
);
alter table auth.mfa_factors owner to {{role:owner}};
create unique index mfa_factors_one_per_kind on auth.mfa_factors (user_id, kind);
comment on table auth.mfa_factors is 'pgwarden: second factors; TOTP secrets sealed, never in clear';

create table auth.recovery_codes (
  user_id      uuid        not null references auth.users (id) on delete cascade,
  code_digest  bytea       not null check (pg_catalog.length(code_digest) = 32),
  created_at   timestamptz not null default pg_catalog.clock_timestamp(),
  used_at      timestamptz,
  primary key (user_id, code_digest)
);
alter table auth.recovery_codes owner to {{role:owner}};
comment on table auth.recovery_codes is 'pgwarden: single-use MFA recovery codes (digests)';

-- The half-finished login between a correct password and the second factor.
create table auth.mfa_challenges (
  token_digest  bytea       primary key check (pg_catalog.length(token_digest) = 32),
  user_id       uuid        not null references auth.users (id) on delete cascade,
  created_at    timestamptz not null,
  expires_at    timestamptz not null,
  attempts      integer     not null default 0,
  client_addr   inet,
  user_agent    text,
  used_at       timestamptz
);
alter table auth.mfa_challenges owner to {{role:owner}};

-- JWT signing keys. The private key is sealed by the service (AES-256-GCM under the master key);
-- the public JWK is served at /.well-known/jwks.json until expires_at, which a rotation sets to
-- the moment the last token the key signed has expired.
create table auth.signing_keys (
  kid                 text        primary key check (kid ~ '^[A-Za-z0-9_-]{16,128}$'),
  alg                 text        not null check (alg in ('EdDSA', 'ES256')),
  public_jwk          jsonb       not null check (pg_catalog.jsonb_typeof(public_jwk) = 'object' and not public_jwk ? 'd'),
  private_key_sealed  bytea       not null,
  master_key_id       text        not null,
  created_at          timestamptz not null default pg_catalog.clock_timestamp(),
  retired_at          timestamptz,
  expires_at          timestamptz
);
alter table auth.signing_keys owner to {{role:owner}};
create unique index signing_keys_one_active on auth.signing_keys ((true)) where retired_at is null;
comment on table auth.signing_keys is 'pgwarden: JWT signing keys; private keys sealed, never in clear';
