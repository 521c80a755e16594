-- pgwarden:privileged
--
-- core 0001: the group roles, pgwarden's own schemas and the migration ledger.
--
-- Runs as the installing role (a superuser, or a database owner with CREATEROLE on managed
-- services such as Amazon RDS), because it creates cluster-wide roles. Every later file runs as
-- the owner role, so pgwarden's objects (and its security definer functions) belong to a
-- NOLOGIN, non-superuser, non-BYPASSRLS role rather than to whoever installed them.
--
-- Role names are cluster-wide, so each carries the configured prefix; the installer substitutes
-- the double-brace role placeholders with quoted names before running this file.

-- The roles. Created only when missing: another database in the cluster may already use them.
do $roles$
declare
  r record;
begin
  for r in
    select * from (values
      ({{role_literal:owner}},          'nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls'),
      ({{role_literal:authenticator}},  'login noinherit nosuperuser nocreatedb nocreaterole nobypassrls'),
      ({{role_literal:anon}},           'nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls'),
      ({{role_literal:app_user}},       'nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls'),
      ({{role_literal:auditor}},        'nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls'),
      ({{role_literal:security_admin}}, 'nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls')
    ) as roles(name, attrs)
  loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = r.name) then
      begin
        execute pg_catalog.format('create role %I %s', r.name, r.attrs);
      exception when duplicate_object or unique_violation then
        null; -- created meanwhile by an install into another database of this cluster
      end;
    end if;
  end loop;
end
$roles$;

comment on role {{role:owner}} is 'pgwarden: owns pgwarden''s objects and runs its security definer functions; never logs in';
comment on role {{role:authenticator}} is 'pgwarden: the application''s login role; switches to a per-request role with SET LOCAL ROLE';
comment on role {{role:anon}} is 'pgwarden: requests without a verified identity';
comment on role {{role:app_user}} is 'pgwarden: requests of an authenticated end user';
comment on role {{role:auditor}} is 'pgwarden: read-only access to audit trails and security events';
comment on role {{role:security_admin}} is 'pgwarden: manages users, roles, keys and policies through pgwarden''s functions';

-- The installing role must be able to SET ROLE to the owner to create the objects of later files.
-- A superuser can already; a CREATEROLE role gets the membership here (PostgreSQL 16+ gives the
-- creator ADMIN OPTION on roles it creates, so this grant is allowed without superuser).
do $membership$
begin
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user)
     and not pg_catalog.pg_has_role(current_user, {{role_literal:owner}},
       -- PostgreSQL 16 split membership into ADMIN, INHERIT and SET; SET ROLE needs SET.
       case when pg_catalog.current_setting('server_version_num')::int >= 160000 then 'SET' else 'MEMBER' end) then
    execute pg_catalog.format('grant %I to %I', {{role_literal:owner}}, current_user);
  end if;
end
$membership$;

-- Per-request roles the authenticator may switch to. NOINHERIT on authenticator means it holds
-- none of their privileges until it switches.
grant {{role:anon}} to {{role:authenticator}};
grant {{role:app_user}} to {{role:authenticator}};

-- Later modules create their own schemas while running as the owner role.
do $create$
begin
  execute pg_catalog.format('grant create on database %I to %I', pg_catalog.current_database(), {{role_literal:owner}});
end
$create$;

-- pgwarden's schemas, owned by the owner role. PUBLIC gets nothing.
create schema if not exists pgwarden authorization {{role:owner}};
create schema if not exists logs authorization {{role:owner}};
alter schema pgwarden owner to {{role:owner}};
alter schema logs owner to {{role:owner}};
revoke all on schema pgwarden from public;
revoke all on schema logs from public;
comment on schema pgwarden is 'pgwarden: installer ledger and internal state';
comment on schema logs is 'pgwarden: security events (retained by uninstall unless purged)';

-- pgcrypto (a contrib extension, trusted since PostgreSQL 13) for digests, HMACs and random bytes.
-- When it is already installed elsewhere it stays there; later files find it through the
-- installer's pgcrypto placeholder.
create extension if not exists pgcrypto with schema pgwarden;

-- Functions created by the owner are not executable by PUBLIC unless a file grants them.
alter default privileges for role {{role:owner}} revoke execute on functions from public;

-- The ledger: one row per applied file. The sha256 of each file and the chain hash
-- (sha256 of the previous chain hash and this file's hash) let the installer refuse an edited
-- released file and prove which exact SQL built this database.
create table if not exists pgwarden.migrations (
  module        text        not null,
  version       integer     not null check (version > 0),
  name          text        not null,
  sha256        text        not null check (sha256 ~ '^[0-9a-f]{64}$'),
  chain_sha256  text        not null check (chain_sha256 ~ '^[0-9a-f]{64}$'),
  installed_at  timestamptz not null default pg_catalog.clock_timestamp(),
  installed_by  text        not null default session_user,
  primary key (module, version)
);
alter table pgwarden.migrations owner to {{role:owner}};
comment on table pgwarden.migrations is 'pgwarden: the migration ledger, one row per applied SQL file';

-- The installation itself: requested tier, role prefix, the pgwarden version that last ran.
create table if not exists pgwarden.installation (
  singleton          boolean     primary key default true check (singleton),
  tier               text        not null check (tier in ('basic', 'standard', 'advanced')),
  role_prefix        text        not null,
  pgwarden_version   text        not null,
  installed_at       timestamptz not null default pg_catalog.clock_timestamp(),
  updated_at         timestamptz not null default pg_catalog.clock_timestamp()
);
alter table pgwarden.installation owner to {{role:owner}};
comment on table pgwarden.installation is 'pgwarden: the installed tier, role prefix and version';

-- Tables whose rows `pgwarden uninstall` keeps unless --purge: audit trails and security events.
-- Each module registers its own; the file creating a retained table must be idempotent
-- (`create table if not exists`) so a reinstall adopts the kept table and its rows.
create table if not exists pgwarden.retained_tables (
  schema_name text not null,
  table_name  text not null,
  module      text not null,
  primary key (schema_name, table_name)
);
alter table pgwarden.retained_tables owner to {{role:owner}};
comment on table pgwarden.retained_tables is 'pgwarden: tables uninstall keeps unless purged';

-- Grants: the auditor and the security admin may read what is installed.
grant usage on schema pgwarden to {{role:auditor}}, {{role:security_admin}};
grant select on pgwarden.migrations, pgwarden.installation to {{role:auditor}}, {{role:security_admin}};
