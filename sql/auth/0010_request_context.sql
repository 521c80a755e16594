-- auth 0010: the per-request context that row-level security reads, made unforgeable.
--
-- The request layer (pgwarden/context, in Node) verifies the bearer token, then opens one
-- transaction on an `authenticator` connection and sets, as transaction-local settings:
--   pgwarden.context      the context: canonical JSON with the identity (sub, tenant, roles, aal,
--                         sid, the verified claims) and its bindings (role, backend pid, exp)
--   pgwarden.context_mac  '<kid>.<hex HMAC-SHA-256 of the context under that key>'
-- Any role can write any custom setting, so the settings alone prove nothing. What proves them is
-- the MAC: its key lives in auth.context_keys, which only the owner role can read, and in the
-- Node process (derived from the master key). Every helper below recomputes the MAC through
-- auth._context(), so a context typed by a client with raw SQL, as any role, is worth NULL.
-- A real context is also bound to
--   - the PostgreSQL role it was issued for: after SET ROLE / RESET ROLE it no longer applies;
--   - the backend that received it: copied to another connection it is void;
--   - a short expiry, checked against the transaction's start time.
-- The helpers return NULL when there is no valid context, so policies written as
-- `column = (select auth.tenant_id())` deny. They are STABLE and PARALLEL RESTRICTED: wrapped in
-- (select ...) a policy evaluates them once per statement as an InitPlan, never per row.

create table auth.context_keys (
  kid         text        primary key check (kid ~ '^[0-9a-f]{16}$'),
  key         bytea       not null check (pg_catalog.length(key) = 32),
  created_at  timestamptz not null default pg_catalog.clock_timestamp(),
  retired_at  timestamptz
);
alter table auth.context_keys owner to {{role:owner}};
comment on table auth.context_keys is 'pgwarden: MAC keys of request contexts; readable by the owner role only';

-- Adds a context key (idempotent; the kid is the first 8 bytes of its SHA-256). Executable by the
-- owner role alone: the installer calls it with the key it derives from the master key.
create function auth.context_key_add(p_key bytea) returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_kid text;
begin
  if p_key is null or pg_catalog.length(p_key) <> 32 then
    raise exception using errcode = 'PW330', message = 'a context key is 32 bytes';
  end if;
  v_kid := pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256(p_key), 1, 8), 'hex');
  insert into auth.context_keys (kid, key) values (v_kid, p_key)
    on conflict (kid) do update set retired_at = null where auth.context_keys.retired_at is not null;
  if found then
    perform auth._event('auth.context_key_added', 'notice', null, null, null, pg_catalog.jsonb_build_object('kid', v_kid));
  end if;
  return v_kid;
end
$$;

-- Retires every context key except the one given: contexts under them stop verifying at once.
create function auth.context_key_retire_others(p_keep_kid text) returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  update auth.context_keys set retired_at = pg_catalog.clock_timestamp()
   where kid <> p_keep_kid and retired_at is null;
  get diagnostics v_count = row_count;
  if v_count > 0 then
    perform auth._event('auth.context_keys_retired', 'notice', null, null, null,
      pg_catalog.jsonb_build_object('kept', p_keep_kid, 'retired', v_count));
  end if;
  return v_count;
end
$$;

-- The verified context for a caller acting as p_role, or NULL. The MAC is checked before the
-- text is parsed, so nothing a client typed is ever interpreted.
create function auth._context(p_role text) returns jsonb
language plpgsql
stable
parallel restricted
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_raw text := pg_catalog.current_setting('pgwarden.context', true);
  v_mac text := pg_catalog.current_setting('pgwarden.context_mac', true);
  v_key bytea;
  v_ctx jsonb;
begin
  -- '<16 hex>.<64 hex>': a length test and a short pattern (a bounded repeat such as {64} costs
  -- the regex engine about 10 µs a call, and this runs for every statement that asks).
  if v_raw is null or v_raw = '' or v_mac is null or pg_catalog.length(v_mac) <> 81
     or v_mac !~ '^[0-9a-f]+[.][0-9a-f]+$' then
    return null;
  end if;
  select k.key into v_key from auth.context_keys k
   where k.kid = pg_catalog.split_part(v_mac, '.', 1) and k.retired_at is null;
  if v_key is null
     or {{pgcrypto}}.hmac(pg_catalog.convert_to(v_raw, 'UTF8'), v_key, 'sha256')
        <> pg_catalog.decode(pg_catalog.split_part(v_mac, '.', 2), 'hex') then
    return null;
  end if;
  v_ctx := v_raw::jsonb;
  if (v_ctx->>'pid')::integer <> pg_catalog.pg_backend_pid()
     or (v_ctx->>'exp')::float8 <= pg_catalog.date_part('epoch', pg_catalog.now()) then
    return null;
  end if;
  -- Bound to the role it was issued for. The other roles a caller can be are those its login
  -- role is a member of (SET ROLE needs that); inside a security definer function, or a view
  -- running as its owner, the context does not apply either, unless that owner is outside the
  -- login role's reach.
  if v_ctx->>'role' is distinct from p_role
     and pg_catalog.pg_has_role(session_user, p_role::name, 'MEMBER') then
    return null;
  end if;
  return v_ctx;
end
$$;
-- Called first in each request transaction whose token names a pgwarden session (by the request
-- layer, as authenticator, with the token's sid, sub and av): refuses a session that was revoked,
-- has expired or whose user is disabled (PW331), and a token issued before a change of the
-- user's roles (PW332), so the next request after a logout or a role change fails. Read-only: it
-- works in read-only transactions and writes nothing. It takes no context and grants nothing:
-- identity comes only from the MAC'd context the helpers verify. (What it does tell a caller is
-- whether a given session of a given user is live; session ids are random UUIDs.)
create function auth.context_enter(p_session_id uuid, p_subject text, p_authz_version bigint) returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ok boolean;
  v_version bigint;
begin
  select s.revoked_at is null and pg_catalog.now() < s.idle_expires_at and pg_catalog.now() < s.absolute_expires_at
         and u.status = 'active',
         u.authz_version
    into v_ok, v_version
    from auth.sessions s join auth.users u on u.id = s.user_id
   where s.id = p_session_id and u.id::text = p_subject;
  if not coalesce(v_ok, false) then
    raise exception using errcode = 'PW331', message = 'the session has ended';
  end if;
  -- pgwarden's tokens carry the user's authz_version (claim av); an older one means the roles in
  -- the token are no longer the user's.
  if p_authz_version is not null and p_authz_version <> v_version then
    raise exception using errcode = 'PW332', message = 'the user''s roles changed after this token was issued',
      hint = 'refresh the token';
  end if;
end
$$;

-- What the request layer checks once per pool (and again every minute), so no request pays for
-- it: whether its context key is registered and active, which of the roles it may map tokens to
-- are unsafe (superuser, BYPASSRLS, LOGIN, the owner, or not reachable from the login), which
-- superuser, BYPASSRLS or owner roles the login itself reaches (R-05: there must be none), and
-- whether the login inherits privileges (it must not: NOINHERIT).
create function auth.context_check(p_kid text, p_roles text[])
returns table (key_active boolean, unsafe_roles text[], login_reaches text[], login_inherits boolean)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select
    exists (select 1 from auth.context_keys k where k.kid = p_kid and k.retired_at is null),
    array(select x.name from pg_catalog.unnest(p_roles) as x(name)
           where not exists (
             select 1 from pg_catalog.pg_roles r
              where r.rolname = x.name and not r.rolsuper and not r.rolbypassrls and not r.rolcanlogin
                and r.oid <> (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'auth')
                and pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'))
           order by 1),
    array(select r.rolname::text from pg_catalog.pg_roles r
           where (r.rolsuper or r.rolbypassrls
                  or r.oid = (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'auth'))
             and pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
           order by 1),
    (select r.rolinherit from pg_catalog.pg_roles r where r.rolname = session_user)
$$;

-- The helpers. PL/pgSQL and SECURITY INVOKER, so current_user is the caller's role. (Not
-- SQL-language: with a SET clause a SQL function is not inlined, and PostgreSQL before 18 then
-- parses and plans its body again in every statement; a PL/pgSQL function keeps its plans for
-- the session.)

create function auth.claims() returns jsonb
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return auth._context(current_user::text) -> 'claims'; end $$;

create function auth.sub() returns text
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return auth._context(current_user::text) ->> 'sub'; end $$;

-- The subject as a uuid; NULL when there is no context or the subject is not a uuid.
create function auth.uid() returns uuid
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$
declare
  s text := auth._context(current_user::text) ->> 'sub';
begin
  -- 36 characters, hex in five groups with the hyphens at 9, 14, 19 and 24: exactly 8-4-4-4-12.
  if pg_catalog.length(s) = 36 and pg_catalog.substr(s, 9, 1) = '-' and pg_catalog.substr(s, 14, 1) = '-'
     and pg_catalog.substr(s, 19, 1) = '-' and pg_catalog.substr(s, 24, 1) = '-'
     and s ~ '^[0-9a-fA-F]+-[0-9a-fA-F]+-[0-9a-fA-F]+-[0-9a-fA-F]+-[0-9a-fA-F]+$' then
    return s::uuid;
  end if;
  return null;
end
$$;

create function auth.tenant_id() returns text
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return auth._context(current_user::text) ->> 'tenant'; end $$;

create function auth.roles() returns text[]
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$
declare
  c jsonb := auth._context(current_user::text);
begin
  if c is null then
    return null;
  end if;
  return array(select pg_catalog.jsonb_array_elements_text(coalesce(c -> 'roles', '[]'::jsonb)));
end
$$;

create function auth.aal() returns text
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return auth._context(current_user::text) ->> 'aal'; end $$;

create function auth.session_id() returns uuid
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return (auth._context(current_user::text) ->> 'sid')::uuid; end $$;

-- Whether the context's roles grant a permission; NULL without a context.
create function auth._has_permission(p_role text, p_permission text) returns boolean
language plpgsql
stable
parallel restricted
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ctx jsonb := auth._context(p_role);
begin
  if v_ctx is null then
    return null;
  end if;
  return exists (
    select 1 from auth.role_permissions rp
     where rp.permission = p_permission
       and rp.role in (select pg_catalog.jsonb_array_elements_text(coalesce(v_ctx -> 'roles', '[]'::jsonb))));
end
$$;

create function auth.has_permission(p_permission text) returns boolean
language plpgsql stable parallel restricted
set search_path = pg_catalog, pg_temp
as $$ begin return auth._has_permission(current_user::text, p_permission); end $$;

-- Who may call what: the helpers are for everyone (they reveal nothing but the caller's own
-- verified context); entering a context is for the authenticator; keys are the owner's.
grant execute on function
  auth._context(text), auth._has_permission(text, text),
  auth.claims(), auth.sub(), auth.uid(), auth.tenant_id(), auth.roles(), auth.aal(), auth.session_id(),
  auth.has_permission(text)
to public;
grant execute on function auth.context_enter(uuid, text, bigint), auth.context_check(text, text[]) to {{role:authenticator}};
grant usage on schema auth to {{role:authenticator}};
