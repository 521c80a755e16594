-- auth 0003: internal helpers the public functions share: the policy row, digest keys for the
-- throttle, the source network of an address, the event writer and session creation.
--
-- None of these is granted to anyone: they run inside the security definer functions of the
-- later files, as the owner role.

-- The policy row. Stable within a statement; the functions read it once per call.
create function auth._policy() returns auth.policy
language sql
stable
set search_path = pg_catalog, pg_temp
as $$ select p from auth.policy p where p.singleton $$;

-- Sources are throttled by network, not by address: an IPv6 client holds a whole /64 and could
-- otherwise step to a fresh address for every guess. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
-- what a dual-stack socket reports for IPv4 clients) are IPv4 clients and count as such.
create function auth._source_network(p_addr inet) returns inet
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when p_addr is null then null
    when p_addr << '::ffff:0.0.0.0/96'::inet then pg_catalog.regexp_replace(pg_catalog.host(p_addr), '^::ffff:', '', 'i')::inet
    when pg_catalog.family(p_addr) = 6 then pg_catalog.network(pg_catalog.set_masklen(p_addr, 64))
    else pg_catalog.host(p_addr)::inet
  end
$$;

-- Keyed digests, so throttle rows and events never hold the typed e-mail (users type passwords
-- into the e-mail field) or the address in clear, and cannot be reversed with a dictionary by
-- someone who reads them without the instance secret.
create function auth._keyed(p_text text) returns bytea
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select {{pgcrypto}}.hmac(pg_catalog.convert_to(p_text, 'UTF8'), k.hmac_key, 'sha256')
    from auth.instance_secret k where k.singleton
$$;

create function auth._account_key(p_email text) returns bytea
language sql
stable
set search_path = pg_catalog, pg_temp
as $$ select auth._keyed('account:' || pg_catalog.lower(p_email)) $$;

create function auth._source_key(p_addr inet) returns bytea
language sql
stable
set search_path = pg_catalog, pg_temp
as $$ select auth._keyed('source:' || coalesce(pg_catalog.text(auth._source_network(p_addr)), 'unknown')) $$;

-- Token digests as the Node side computes them: SHA-256 of the whole token string.
create function auth._token_digest(p_token text) returns bytea
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$ select pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')) $$;

-- A new opaque token in SQL (SQL-only clients): prefix + base64url of 32 random bytes.
create function auth._new_token(p_prefix text) returns text
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  select p_prefix || pg_catalog.translate(
    pg_catalog.rtrim(pg_catalog.encode({{pgcrypto}}.gen_random_bytes(32), 'base64'), '='), '+/', '-_')
$$;

-- Writes one security event. Runs as the owner (who owns logs.notification_log), so it can set
-- source_addr, the end user's address as the service reported it; db_user, client_addr and the
-- time stay server-set as in logs.log_event().
create function auth._event(
  p_event_type  text,
  p_severity    text,
  p_subject     text,
  p_tenant      text,
  p_source      inet,
  p_details     jsonb,
  p_session_id  uuid default null
) returns void
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  insert into logs.notification_log
    (event_type, severity, actor, subject, tenant, client_addr, source_addr, application_name,
     session_id, details, db_user)
  values
    (p_event_type, p_severity, coalesce(p_subject, session_user::text), p_subject, p_tenant,
     pg_catalog.inet_client_addr(), p_source, pg_catalog.current_setting('application_name', true),
     p_session_id, coalesce(p_details, '{}'::jsonb), session_user::text)
$$;

-- Parses the parameters out of a PHC string: '$argon2id$v=19$m=19456,t=2,p=1$salt$hash'.
create function auth._phc_params(p_hash text) returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(pg_catalog.jsonb_object_agg(kv[1],
           case when kv[2] ~ '^\d{1,9}$' then pg_catalog.to_jsonb(kv[2]::int) else pg_catalog.to_jsonb(kv[2]) end),
         '{}'::jsonb)
  from pg_catalog.unnest((pg_catalog.string_to_array(p_hash, '$'))[3:4]) as seg
  cross join lateral pg_catalog.regexp_split_to_table(seg, ',') as pair
  cross join lateral pg_catalog.regexp_match(pair, '^([a-z]+)=([^,]*)$') as kv
  where kv is not null
$$;

-- Sets a user's password hash (PHC), recording algorithm and parameters.
create function auth._set_credential(p_user_id uuid, p_hash text, p_now timestamptz) returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_hash is null or p_hash !~ '^\$(argon2id|argon2i|argon2d|bcrypt-sha256)\$[^$]+\$' then
    raise exception using errcode = 'PW301', message = 'expected a password hash in PHC format',
      hint = 'hash the password first: in Node with pgwarden''s AuthService, in SQL with auth.hash_password()';
  end if;
  insert into auth.credentials as c (user_id, password_hash, algorithm, params, changed_at)
  values (p_user_id, p_hash, pg_catalog.split_part(p_hash, '$', 2), auth._phc_params(p_hash), p_now)
  on conflict (user_id) do update
    set password_hash = excluded.password_hash, algorithm = excluded.algorithm,
        params = excluded.params, changed_at = excluded.changed_at;
end
$$;

-- Creates a session and, when a digest is given, the first refresh token of its family.
create function auth._create_session(
  p_user_id          uuid,
  p_aal              text,
  p_amr              text[],
  p_source           inet,
  p_user_agent       text,
  p_refresh_digest   bytea,
  p_session_digest   bytea,
  p_now              timestamptz,
  -- a session replacing another (step-up, password change) keeps the old absolute limit
  p_not_after        timestamptz default null
) returns auth.sessions
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  u auth.users;
  s auth.sessions;
begin
  select * into strict u from auth.users where id = p_user_id;
  insert into auth.sessions
    (user_id, tenant, created_at, last_seen_at, idle_expires_at, absolute_expires_at, client_addr,
     user_agent, aal, amr, token_digest)
  values
    (u.id, u.tenant, p_now, p_now,
     least(p_now + pol.session_idle_timeout, p_now + pol.session_max_lifetime, p_not_after),
     least(p_now + pol.session_max_lifetime, p_not_after), p_source, pg_catalog.left(p_user_agent, 512), p_aal, p_amr,
     p_session_digest)
  returning * into s;
  if p_refresh_digest is not null then
    insert into auth.refresh_tokens (session_id, token_digest, created_at)
    values (s.id, p_refresh_digest, p_now);
  end if;
  return s;
end
$$;

-- What every function that opens or rotates a session hands back to the service.
create type auth.session_grant as (
  session_id  uuid,
  user_id     uuid,
  tenant      text,
  roles       text[],
  aal         text,
  email       text,
  expires_at  timestamptz,
  authz_version bigint
);

-- A user's effective roles in a tenant: the global ones plus those assigned for the tenant.
create function auth._effective_roles(p_user_id uuid, p_tenant text) returns text[]
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select array(
    select distinct r from pg_catalog.unnest(
      (select u.roles from auth.users u where u.id = p_user_id)
      || array(select a.role from auth.role_assignments a where a.user_id = p_user_id and a.tenant = p_tenant)) r
    order by r)
$$;

create function auth._grant(s auth.sessions) returns auth.session_grant
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select (s.id, u.id, s.tenant, auth._effective_roles(u.id, s.tenant), s.aal, u.email, s.absolute_expires_at,
          u.authz_version)::auth.session_grant
    from auth.users u where u.id = s.user_id
$$;

-- Ends one session and every refresh token of its family. Session row first, then its tokens:
-- every function takes the locks in that order, so two of them never deadlock.
create function auth._end_session(p_session_id uuid, p_reason text, p_now timestamptz) returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ended boolean;
begin
  update auth.sessions set revoked_at = p_now, revoked_reason = p_reason
  where id = p_session_id and revoked_at is null;
  v_ended := found;
  update auth.refresh_tokens set state = 'revoked', used_at = coalesce(used_at, p_now)
  where session_id = p_session_id and state <> 'revoked';
  return v_ended;
end
$$;

-- Whether a session row is usable now; expired ones are closed on the way.
create function auth._session_usable(s auth.sessions, p_now timestamptz) returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_reason text;
begin
  if s.id is null or s.revoked_at is not null then
    return false;
  end if;
  if p_now >= s.absolute_expires_at then
    v_reason := 'absolute_timeout';
  elsif p_now >= s.idle_expires_at then
    v_reason := 'idle_timeout';
  elsif not exists (select 1 from auth.users u where u.id = s.user_id and u.status = 'active') then
    v_reason := 'user_disabled';
  end if;
  if v_reason is not null then
    perform auth._end_session(s.id, v_reason, p_now);
    perform auth._event('auth.session_expired', 'info', s.user_id::text, s.tenant, null,
      pg_catalog.jsonb_build_object('reason', v_reason), s.id);
    return false;
  end if;
  return true;
end
$$;

-- Marks a session seen: pushes the idle expiry forward (never past the absolute one).
create function auth._touch_session(s auth.sessions, p_now timestamptz) returns auth.sessions
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  t auth.sessions;
begin
  update auth.sessions
     set last_seen_at = p_now,
         idle_expires_at = least(p_now + pol.session_idle_timeout, absolute_expires_at)
   where id = s.id
  returning * into t;
  return t;
end
$$;
