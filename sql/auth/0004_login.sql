-- auth 0004: registration and login.
--
-- Two ways in, one set of rules:
--   * the pgwarden auth service (Node) hashes with argon2id itself and sends only derived values:
--     auth.register_user() takes a PHC hash; a login is auth.begin_login() (reserve the attempt
--     against the throttle, fetch the stored hash), argon2 verify in Node, auth.finish_login();
--   * SQL-only clients call auth.hash_password() and auth.authenticate_user(), which hash and
--     verify in the database with bcrypt over an HMAC-SHA-256 pre-hash (no 72-byte truncation).
--     The password then travels to the server as a bind parameter: docs/auth.md gives the rule.
--
-- Throttling counts an attempt as a failure *before* the password is checked (begin_login) and
-- clears it on success (finish_login), so parallel guesses cannot slip past the threshold while
-- their verifications are in flight, and every counter update is a single row-locked statement.

create function auth._normalize(p_password text) returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select case when pg_catalog.getdatabaseencoding() = 'UTF8'
              then pg_catalog.normalize(p_password, 'NFKC') else p_password end
$$;

-- bcrypt over base64(HMAC-SHA-256(key = salt string, message = password)): 44 ASCII characters,
-- so bcrypt's 72-byte limit never truncates and no NUL byte can end the input early.
create function auth._bcrypt_sha256(p_password text, p_salt text) returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select {{pgcrypto}}.crypt(
    pg_catalog.encode({{pgcrypto}}.hmac(pg_catalog.convert_to(auth._normalize(p_password), 'UTF8'),
                                        pg_catalog.convert_to(p_salt, 'UTF8'), 'sha256'), 'base64'),
    p_salt)
$$;

-- SQL-only hashing. security definer: reads the policy (cost, lengths).
create function auth.hash_password(p_password text) returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  v_len integer := pg_catalog.char_length(auth._normalize(coalesce(p_password, '')));
  v_salt text;
  v_bcrypt text;
begin
  if v_len < pol.min_password_length or v_len > pol.max_password_length then
    raise exception using errcode = 'PW301',
      message = pg_catalog.format('the password must be %s to %s characters long',
                                  pol.min_password_length, pol.max_password_length),
      detail = case when v_len < pol.min_password_length then 'rules: too_short' else 'rules: too_long' end;
  end if;
  v_salt := {{pgcrypto}}.gen_salt('bf', pol.bcrypt_cost);
  v_bcrypt := auth._bcrypt_sha256(p_password, v_salt);
  -- '$2a$12$' + 22 salt characters + 31 hash characters
  return '$bcrypt-sha256$v=2,t=2a,r=' || pol.bcrypt_cost || '$' || pg_catalog.substr(v_bcrypt, 8, 22)
         || '$' || pg_catalog.substr(v_bcrypt, 30, 31);
end
$$;

create function auth._verify_sql_password(p_hash text, p_password text) returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  m text[] := pg_catalog.regexp_match(p_hash,
    '^\$bcrypt-sha256\$v=2,t=2a,r=(\d{2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$');
  v_salt text;
begin
  if m is null then
    -- same work as a real check, so an unusable hash costs what a wrong password costs
    perform auth._bcrypt_sha256(coalesce(p_password, ''), {{pgcrypto}}.gen_salt('bf', (auth._policy()).bcrypt_cost));
    return false;
  end if;
  v_salt := '$2a$' || m[1] || '$' || m[2];
  return auth._bcrypt_sha256(coalesce(p_password, ''), v_salt) = v_salt || m[3];
end
$$;

-- Registration. Takes a PHC hash, never a password. Never says whether the e-mail was taken:
-- a duplicate returns created = false to the trusted caller, which answers the end user exactly
-- as for a new account (ASVS 6.3.8), and an event tells the owner of the address.
create function auth.register_user(
  p_email          text,
  p_password_hash  text,
  p_tenant         text,
  p_display_name   text default null,
  p_roles          text[] default '{}',
  p_source         inet default null
) returns table (user_id uuid, created boolean)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_id uuid;
  v_existing auth.users;
begin
  if p_email is null or pg_catalog.length(p_email) > 254 or p_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' then
    raise exception using errcode = 'PW310', message = 'email is not a valid e-mail address';
  end if;
  if p_tenant is null or p_tenant !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' then
    raise exception using errcode = 'PW310', message = 'tenant must be 1-64 letters, digits, or _ . : -';
  end if;
  if exists (select 1 from pg_catalog.unnest(coalesce(p_roles, '{}')) r where r is null or r !~ '^[a-z][a-z0-9_]{0,62}$') then
    raise exception using errcode = 'PW310', message = 'roles must be lowercase identifiers';
  end if;
  if p_display_name is not null and pg_catalog.length(p_display_name) > 200 then
    raise exception using errcode = 'PW310', message = 'display name is longer than 200 characters';
  end if;

  insert into auth.users (email, tenant, display_name, roles, created_at, updated_at)
  values (p_email, p_tenant, p_display_name, coalesce(p_roles, '{}'), v_now, v_now)
  on conflict ((pg_catalog.lower(email))) do nothing
  returning id into v_id;

  if v_id is null then
    select * into v_existing from auth.users u where pg_catalog.lower(u.email) = pg_catalog.lower(p_email);
    perform auth._event('auth.register_duplicate', 'notice', v_existing.id::text, v_existing.tenant, p_source,
      '{}'::jsonb);
    return query select null::uuid, false;
    return;
  end if;

  perform auth._set_credential(v_id, p_password_hash, v_now);
  perform auth._event('auth.user_registered', 'info', v_id::text, p_tenant, p_source,
    pg_catalog.jsonb_build_object('algorithm', pg_catalog.split_part(p_password_hash, '$', 2)));
  return query select v_id, true;
end
$$;

-- One hourly throttle row ('account' or 'source'): counts a verification unless the cap is
-- reached. Windows are clock hours; the previous hour's count is weighted by the part of it still
-- inside the last 60 minutes (a sliding-window estimate), so a burst across an hour boundary
-- cannot reach twice the cap. An exempt attempt (from a source where the user logged in before)
-- always counts and always passes. Returns false when the cap refuses it.
create function auth._take_hourly(p_scope text, p_key bytea, p_cap integer, p_exempt boolean, p_now timestamptz)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hour timestamptz := pg_catalog.date_trunc('hour', p_now);
  t auth.throttle;
  v_estimate double precision;
begin
  insert into auth.throttle (scope, key, window_start) values (p_scope, p_key, v_hour) on conflict do nothing;
  select * into strict t from auth.throttle x where x.scope = p_scope and x.key = p_key for update;
  if t.window_start < v_hour then
    t.prev_count := case when t.window_start = v_hour - interval '1 hour' then t.window_count else 0 end;
    t.window_count := 0;
    t.window_start := v_hour;
  end if;
  v_estimate := t.prev_count * (1 - pg_catalog.date_part('epoch', p_now - v_hour) / 3600) + t.window_count;
  if v_estimate >= p_cap and not p_exempt then
    update auth.throttle set window_start = t.window_start, window_count = t.window_count, prev_count = t.prev_count
     where scope = p_scope and key = p_key;
    return false;
  end if;
  update auth.throttle set window_start = t.window_start, window_count = t.window_count + 1, prev_count = t.prev_count
   where scope = p_scope and key = p_key;
  return true;
end
$$;

-- A completed login (password, and the second factor when the user has one): clears the
-- consecutive-failure counter of this account and source, reports earlier failures, and
-- remembers the source as one the user logs in from (exempt from the account's hourly cap).
create function auth._login_completed(p_user_id uuid, p_source inet, p_now timestamptz) returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  u auth.users;
  v_source bytea := auth._source_key(p_source);
  v_pair bytea;
  v_prev integer;
begin
  select * into strict u from auth.users x where x.id = p_user_id;
  v_pair := pg_catalog.sha256(auth._account_key(u.email) || v_source);
  update auth.throttle t set failures = 0, retry_after = null, locked_until = null
    from (select x.failures from auth.throttle x
           where x.scope = 'account_source' and x.key = v_pair for update) as before
   where t.scope = 'account_source' and t.key = v_pair
  returning before.failures into v_prev;
  -- begin_login counted the successful attempt too
  v_prev := greatest(coalesce(v_prev, 1) - 1, 0);
  if v_prev > 0 then
    perform auth._event('auth.success_after_failures', 'notice', u.id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('failures', v_prev));
  end if;
  insert into auth.known_sources (user_id, source_key, last_success_at) values (u.id, v_source, p_now)
  on conflict on constraint known_sources_pkey do update set last_success_at = excluded.last_success_at;
end
$$;

-- Step 1 of a service login: reserve the attempt and fetch the stored hash.
--
-- Every call takes the same path and the same row locks whatever the outcome, and returns a hash
-- only when the attempt may be verified. The caller then verifies the typed password against that
-- hash, or against a dummy hash of the same cost when none came back, so unknown, wrong,
-- throttled and disabled accounts cost the same time. reason is internal; it goes to
-- finish_login and the event log, never to the end user.
create function auth.begin_login(p_email text, p_source inet)
returns table (password_hash text, allowed boolean, reason text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_account bytea := auth._account_key(coalesce(p_email, ''));
  v_source bytea := auth._source_key(p_source);
  v_pair bytea := pg_catalog.sha256(v_account || v_source);
  u auth.users;
  t auth.throttle;
  v_known boolean := false;
  v_reason text;
  v_hash text;
  v_n integer;
begin
  select * into u from auth.users x where pg_catalog.lower(x.email) = pg_catalog.lower(coalesce(p_email, ''));

  -- Count the attempt now; finish_login clears it on success. The returned row still carries the
  -- previous retry_after and locked_until: this statement does not change them.
  insert into auth.throttle as x (scope, key, failures, last_failure_at, window_start)
  values ('account_source', v_pair, 1, v_now, v_now)
  on conflict (scope, key) do update
    set failures = case when x.last_failure_at < v_now - pol.failure_memory then 1 else x.failures + 1 end,
        last_failure_at = v_now
  returning x.* into t;
  v_n := t.failures;

  if t.locked_until > v_now or t.retry_after > v_now then
    v_reason := 'throttled';
  end if;

  if v_n >= pol.delay_after then
    update auth.throttle
       set retry_after = v_now + least(pol.max_delay,
                                       pg_catalog.make_interval(secs => 2 ^ least(v_n - pol.delay_after, 30))),
           locked_until = case when v_n = pol.lock_after then v_now + pol.lock_duration else locked_until end
     where scope = 'account_source' and key = v_pair;
    if v_n = pol.lock_after then
      perform auth._event('auth.account_locked', 'warning', u.id::text, u.tenant, p_source,
        pg_catalog.jsonb_build_object('failures', v_n, 'locked_for', pol.lock_duration::text,
          'account', pg_catalog.encode(pg_catalog.substr(v_account, 1, 8), 'hex')));
    end if;
  end if;

  if v_reason is null then
    if u.id is not null then
      select true into v_known from auth.known_sources k
       where k.user_id = u.id and k.source_key = v_source and k.last_success_at > v_now - pol.known_source_ttl;
    end if;
    if not auth._take_hourly('source', v_source, pol.source_hourly_cap, false, v_now) then
      v_reason := 'source_cap';
    elsif not auth._take_hourly('account', v_account, pol.account_hourly_cap, coalesce(v_known, false), v_now) then
      v_reason := 'account_cap';
    end if;
  end if;

  if v_reason is null then
    if u.id is null then
      v_reason := 'unknown_user';
    elsif u.status <> 'active' then
      v_reason := 'disabled';
    else
      select c.password_hash into v_hash from auth.credentials c where c.user_id = u.id;
      if v_hash is null then
        v_reason := 'no_credential';
      end if;
    end if;
  end if;

  return query select case when v_reason is null then v_hash end, v_reason is null, v_reason;
end
$$;

-- Step 2 of a service login. p_reason is begin_login's reason, or null when the caller verified
-- the password; p_verified is the result of that verification. p_purpose 'reauth' checks a
-- password for a sensitive action (password change) under the same throttle, opening nothing. On success: clear the counter,
-- remember the source, rehash when asked (same transaction), then either open a session or, for
-- a user with an active second factor, an MFA challenge. For such a user the counter is cleared
-- and the source remembered only when the second factor succeeds (auth.mfa_complete), so a
-- stolen password gives no fresh attempts at the code. p_reason 'busy' (the service could not
-- check the password) undoes the count.
create function auth.finish_login(
  p_email           text,
  p_source          inet,
  p_user_agent      text,
  p_verified        boolean,
  p_reason          text,
  p_new_hash        text default null,
  p_refresh_digest  bytea default null,
  p_mfa_digest      bytea default null,
  p_session_digest  bytea default null,
  p_purpose         text default 'login'
) returns table (outcome text, session_id uuid, user_id uuid, tenant text, roles text[], aal text,
                 email text, expires_at timestamptz, authz_version bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_account bytea := auth._account_key(coalesce(p_email, ''));
  v_source bytea := auth._source_key(p_source);
  v_pair bytea := pg_catalog.sha256(v_account || v_source);
  u auth.users;
  v_reason text := p_reason;
  s auth.sessions;
begin
  select * into u from auth.users x where pg_catalog.lower(x.email) = pg_catalog.lower(coalesce(p_email, ''));
  if v_reason is null and not coalesce(p_verified, false) then
    v_reason := 'wrong_password';
  end if;
  if v_reason is null and (u.id is null or u.status <> 'active') then
    v_reason := 'disabled';
  end if;

  if v_reason = 'busy' then
    -- the service could not check the password (hashing queue full): not a failed guess
    update auth.throttle set failures = greatest(failures - 1, 0)
     where scope = 'account_source' and key = v_pair;
    return;
  end if;

  if v_reason is not null then
    perform auth._event(
      case when v_reason in ('throttled', 'account_cap', 'source_cap') then 'auth.login_throttled' else 'auth.login_failed' end,
      case when v_reason in ('throttled', 'account_cap', 'source_cap') then 'warning' else 'notice' end,
      u.id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('reason', v_reason,
        'account', pg_catalog.encode(pg_catalog.substr(v_account, 1, 8), 'hex'),
        'user_agent', pg_catalog.left(p_user_agent, 256)));
    return;
  end if;

  if p_new_hash is not null then
    perform auth._set_credential(u.id, p_new_hash, v_now);
    perform auth._event('auth.password_rehashed', 'info', u.id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('algorithm', pg_catalog.split_part(p_new_hash, '$', 2)));
  end if;

  -- re-authentication (password change): the password was right; no new session
  if p_purpose = 'reauth' then
    perform auth._login_completed(u.id, p_source, v_now);
    perform auth._event('auth.reauthenticated', 'info', u.id::text, u.tenant, p_source, '{}'::jsonb);
    return query select 'verified'::text, null::uuid, u.id, u.tenant, auth._effective_roles(u.id, u.tenant), null::text,
      u.email, null::timestamptz, u.authz_version;
    return;
  end if;

  if exists (select 1 from auth.mfa_factors f where f.user_id = u.id and f.status = 'active') then
    if p_mfa_digest is null then
      perform auth._event('auth.login_failed', 'notice', u.id::text, u.tenant, p_source,
        pg_catalog.jsonb_build_object('reason', 'mfa_needs_service'));
      return;
    end if;
    insert into auth.mfa_challenges (token_digest, user_id, created_at, expires_at, client_addr, user_agent)
    values (p_mfa_digest, u.id, v_now, v_now + pol.mfa_challenge_ttl, p_source, pg_catalog.left(p_user_agent, 512));
    perform auth._event('auth.mfa_challenged', 'info', u.id::text, u.tenant, p_source, '{}'::jsonb);
    return query select 'mfa_required'::text, null::uuid, u.id, u.tenant, auth._effective_roles(u.id, u.tenant),
      null::text, u.email, v_now + pol.mfa_challenge_ttl, u.authz_version;
    return;
  end if;

  perform auth._login_completed(u.id, p_source, v_now);
  s := auth._create_session(u.id, 'aal1', '{pwd}', p_source, p_user_agent, p_refresh_digest, p_session_digest, v_now);
  perform auth._event('auth.login_succeeded', 'info', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('aal', 'aal1', 'user_agent', pg_catalog.left(p_user_agent, 256)), s.id);
  return query select 'session'::text, s.id, u.id, u.tenant, auth._effective_roles(u.id, u.tenant), s.aal, u.email,
    s.absolute_expires_at, u.authz_version;
end
$$;

-- SQL-only login: verify in the database and return an opaque session token (shown once; only
-- its digest is stored). Users whose hash is argon2id (set by the service) or who have a second
-- factor must log in through the service. The throttle keys on p_source, the end user's address
-- as the calling application saw it; without it, on the connection's address, which behind an
-- application server is shared by every user (docs/auth.md says what that means).
create function auth.authenticate_user(
  p_email       text,
  p_password    text,
  p_user_agent  text default null,
  p_source      inet default null
) returns table (session_id uuid, session_token text, user_id uuid, tenant text, aal text, expires_at timestamptz)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  -- the end user's address as the calling application saw it; the connection's otherwise
  v_source inet := coalesce(p_source, pg_catalog.inet_client_addr());
  b record;
  v_ok boolean := false;
  v_reason text;
  v_token text := auth._new_token('pgws_');
  f record;
begin
  select * into b from auth.begin_login(p_email, v_source);
  v_reason := b.reason;
  if b.allowed and b.password_hash like '$bcrypt-sha256$%' then
    v_ok := auth._verify_sql_password(b.password_hash, p_password);
  else
    perform auth._verify_sql_password('', p_password);
    if b.allowed then
      v_reason := 'hash_needs_service';
    end if;
  end if;
  select * into f from auth.finish_login(p_email, v_source, p_user_agent, v_ok, v_reason,
                                         p_session_digest => auth._token_digest(v_token));
  if f.outcome = 'session' then
    return query select f.session_id, v_token, f.user_id, f.tenant, f.aal, f.expires_at;
  end if;
end
$$;

-- Every policy change is an admin action in the event log, old and new values side by side.
create function auth._policy_changed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform auth._event('auth.policy_changed', 'notice', null, null, null,
    pg_catalog.jsonb_build_object('before', pg_catalog.to_jsonb(old), 'after', pg_catalog.to_jsonb(new),
                                  'by', session_user::text));
  return new;
end
$$;
create trigger policy_changed after update on auth.policy
  for each row execute function auth._policy_changed();
