-- auth 0005: sessions: refresh rotation with reuse detection, validation, logout, revocation,
-- password change and the admin controls that end sessions (ASVS 7.4).

-- Rotates a refresh token: the presented token becomes 'used' and a child takes its place, in
-- one transaction holding the token's row lock, so of N parallel refreshes exactly one wins.
-- A token presented again after its grace window is taken as stolen: the whole family (the
-- session) is revoked, descendants included (RFC 9700 4.14.2).
create function auth.refresh_session(
  p_refresh_digest  bytea,
  p_new_digest      bytea,
  p_source          inet default null,
  p_user_agent      text default null
) returns setof auth.session_grant
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  v_now timestamptz := pg_catalog.clock_timestamp();
  rt auth.refresh_tokens;
  s auth.sessions;
  v_session uuid;
begin
  -- Lock the session first, then the token (the order every function uses): parallel refreshes
  -- of one family queue on the session row.
  select x.session_id into v_session from auth.refresh_tokens x where x.token_digest = p_refresh_digest;
  if v_session is null then
    perform auth._event('auth.refresh_failed', 'notice', null, null, p_source,
      pg_catalog.jsonb_build_object('reason', 'unknown_token'));
    return;
  end if;
  select * into s from auth.sessions x where x.id = v_session for update;
  select * into rt from auth.refresh_tokens x where x.token_digest = p_refresh_digest for update;

  if rt.state = 'used' and rt.used_at > v_now - pol.refresh_reuse_grace and s.revoked_at is null then
    perform auth._event('auth.refresh_race', 'info', s.user_id::text, s.tenant, p_source,
      pg_catalog.jsonb_build_object('reason', 'reused_within_grace'), s.id);
    return;
  end if;
  if rt.state = 'used' then
    perform auth._end_session(s.id, 'refresh_reuse', v_now);
    perform auth._event('auth.refresh_reuse_detected', 'critical', s.user_id::text, s.tenant, p_source,
      pg_catalog.jsonb_build_object('token_id', rt.id, 'used_at', rt.used_at,
        'user_agent', pg_catalog.left(p_user_agent, 256)), s.id);
    return;
  end if;
  if rt.state = 'revoked' or not auth._session_usable(s, v_now) then
    perform auth._event('auth.refresh_failed', 'notice', s.user_id::text, s.tenant, p_source,
      pg_catalog.jsonb_build_object('reason', coalesce(s.revoked_reason, 'revoked')), s.id);
    return;
  end if;

  update auth.refresh_tokens set state = 'used', used_at = v_now where id = rt.id;
  insert into auth.refresh_tokens (session_id, parent_id, token_digest, created_at)
  values (s.id, rt.id, p_new_digest, v_now);
  s := auth._touch_session(s, v_now);
  return next auth._grant(s);
end
$$;

-- For services holding a JWT: is the session behind this `sid` still good? Marks it seen at most
-- once a minute, so checking on every request costs a read, not a write.
create function auth.check_session(p_session_id uuid)
returns table (session_id uuid, user_id uuid, tenant text, aal text, expires_at timestamptz)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  s auth.sessions;
begin
  select * into s from auth.sessions x where x.id = p_session_id;
  if not auth._session_usable(s, v_now) then
    return;
  end if;
  if s.last_seen_at < v_now - interval '1 minute' then
    s := auth._touch_session(s, v_now);
  end if;
  return query select s.id, s.user_id, s.tenant, s.aal, least(s.idle_expires_at, s.absolute_expires_at);
end
$$;

-- SQL-only clients: validate an opaque session token from auth.authenticate_user(). No row
-- means not valid (unknown, expired, revoked, or the user disabled).
create function auth.validate_session(p_session_token text)
returns table (session_id uuid, user_id uuid, tenant text, roles text[], aal text, expires_at timestamptz)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  s auth.sessions;
begin
  if p_session_token is null or pg_catalog.length(p_session_token) > 100 then
    return;
  end if;
  select * into s from auth.sessions x where x.token_digest = auth._token_digest(p_session_token);
  if not auth._session_usable(s, v_now) then
    return;
  end if;
  s := auth._touch_session(s, v_now);
  return query select s.id, s.user_id, s.tenant, u.roles, s.aal, least(s.idle_expires_at, s.absolute_expires_at)
               from auth.users u where u.id = s.user_id;
end
$$;

-- Ends one session. The service passes the session id of a verified access token; SQL-only
-- clients use auth.logout(token).
create function auth.end_session(p_session_id uuid, p_reason text default 'logout', p_source inet default null)
returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  s auth.sessions;
begin
  select * into s from auth.sessions x where x.id = p_session_id;
  if s.id is null or not auth._end_session(s.id, coalesce(p_reason, 'logout'), pg_catalog.clock_timestamp()) then
    return false;
  end if;
  perform auth._event(case when coalesce(p_reason, 'logout') = 'logout' then 'auth.logout' else 'auth.session_ended' end,
    'info', s.user_id::text, s.tenant, p_source, pg_catalog.jsonb_build_object('reason', coalesce(p_reason, 'logout')), s.id);
  return true;
end
$$;

create function auth.logout(p_session_token text) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  if p_session_token is null or pg_catalog.length(p_session_token) > 100 then
    return false;
  end if;
  select x.id into v_id from auth.sessions x where x.token_digest = auth._token_digest(p_session_token);
  return v_id is not null and auth.end_session(v_id, 'logout', pg_catalog.inet_client_addr());
end
$$;

-- Ends every session of a user, optionally keeping one (the caller's own). Returns how many.
create function auth.revoke_sessions(
  p_user_id  uuid,
  p_except   uuid default null,
  p_reason   text default 'revoked',
  p_actor    text default null,
  p_source   inet default null
) returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_count integer := 0;
  r record;
  u auth.users;
begin
  select * into u from auth.users x where x.id = p_user_id;
  if u.id is null then
    raise exception using errcode = 'PW309', message = 'no such user';
  end if;
  for r in select x.id from auth.sessions x
            where x.user_id = p_user_id and x.revoked_at is null and x.id is distinct from p_except
            order by x.id
            for update
  loop
    perform auth._end_session(r.id, coalesce(p_reason, 'revoked'), v_now);
    v_count := v_count + 1;
  end loop;
  perform auth._event('auth.sessions_revoked', 'notice', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('count', v_count, 'reason', coalesce(p_reason, 'revoked'),
      'by', coalesce(p_actor, session_user::text), 'kept', p_except));
  return v_count;
end
$$;

create function auth.list_sessions(p_user_id uuid)
returns table (session_id uuid, created_at timestamptz, last_seen_at timestamptz, expires_at timestamptz,
               client_addr inet, user_agent text, aal text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.id, s.created_at, s.last_seen_at, least(s.idle_expires_at, s.absolute_expires_at), s.client_addr,
         s.user_agent, s.aal
    from auth.sessions s
   where s.user_id = p_user_id and s.revoked_at is null
     and s.idle_expires_at > pg_catalog.clock_timestamp() and s.absolute_expires_at > pg_catalog.clock_timestamp()
   order by s.created_at desc
$$;

-- Password change by the user (the service checked the current password through the login
-- throttle first). Ends every other session and rotates the caller's: the current session is
-- closed and a new one with the same assurance level replaces it (ASVS 7.4.3).
create function auth.change_password(
  p_user_id         uuid,
  p_session_id      uuid,
  p_new_hash        text,
  p_refresh_digest  bytea,
  p_source          inet default null,
  p_user_agent      text default null
) returns setof auth.session_grant
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  u auth.users;
  old auth.sessions;
  s auth.sessions;
  v_ended integer;
begin
  -- no key update: the session inserts below only need the user row not to go away, and FOR
  -- UPDATE would conflict with their foreign-key checks held by other functions (deadlocks)
  select * into u from auth.users x where x.id = p_user_id and x.status = 'active' for no key update;
  select * into old from auth.sessions x where x.id = p_session_id and x.user_id = p_user_id;
  if u.id is null or not auth._session_usable(old, v_now) then
    raise exception using errcode = 'PW302', message = 'the session is not valid';
  end if;
  perform auth._set_credential(u.id, p_new_hash, v_now);
  v_ended := auth.revoke_sessions(u.id, null, 'password_changed', u.id::text, p_source);
  delete from auth.mfa_challenges c where c.user_id = u.id;
  s := auth._create_session(u.id, old.aal, old.amr, p_source, p_user_agent, p_refresh_digest, null, v_now,
                            old.absolute_expires_at);
  perform auth._event('auth.password_changed', 'notice', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('sessions_ended', v_ended), s.id);
  return next auth._grant(s);
end
$$;

-- Admin: set a password hash (reset), ending every session of the user.
create function auth.set_password(p_user_id uuid, p_new_hash text, p_actor text default null) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  u auth.users;
begin
  select * into u from auth.users x where x.id = p_user_id for no key update;
  if u.id is null then
    raise exception using errcode = 'PW309', message = 'no such user';
  end if;
  perform auth._set_credential(u.id, p_new_hash, pg_catalog.clock_timestamp());
  perform auth.revoke_sessions(u.id, null, 'password_reset', p_actor);
  -- the owner's way back in: challenges opened with the old password die, and a second factor
  -- locked by someone who knew it is unlocked
  delete from auth.mfa_challenges c where c.user_id = u.id;
  perform auth._mfa_clear(u.id);
  perform auth._event('auth.password_reset', 'notice', u.id::text, u.tenant, null,
    pg_catalog.jsonb_build_object('by', coalesce(p_actor, session_user::text)));
end
$$;

-- Admin: disable a user. Ends every session and refresh family at once (ASVS 7.4.2); access
-- tokens already issued stop working at the next check_session.
create function auth.set_user_status(p_user_id uuid, p_status text, p_reason text default null, p_actor text default null)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  u auth.users;
begin
  if p_status not in ('active', 'disabled') then
    raise exception using errcode = 'PW310', message = 'status must be active or disabled';
  end if;
  update auth.users x set status = p_status, status_reason = p_reason, updated_at = pg_catalog.clock_timestamp()
   where x.id = p_user_id returning * into u;
  if u.id is null then
    raise exception using errcode = 'PW309', message = 'no such user';
  end if;
  if p_status = 'disabled' then
    perform auth.revoke_sessions(u.id, null, 'user_disabled', p_actor);
  end if;
  delete from auth.mfa_challenges c where c.user_id = u.id;
  perform auth._event(case when p_status = 'disabled' then 'auth.user_disabled' else 'auth.user_enabled' end,
    'notice', u.id::text, u.tenant, null,
    pg_catalog.jsonb_build_object('by', coalesce(p_actor, session_user::text), 'reason', p_reason));
end
$$;

create function auth.get_user(p_user_id uuid)
returns table (user_id uuid, email text, tenant text, display_name text, roles text[], status text,
               mfa boolean, created_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select u.id, u.email, u.tenant, u.display_name, u.roles, u.status,
         exists (select 1 from auth.mfa_factors f where f.user_id = u.id and f.status = 'active'), u.created_at
    from auth.users u where u.id = p_user_id
$$;
