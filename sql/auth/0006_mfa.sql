-- auth 0006: TOTP second factor (RFC 6238) and recovery codes.
--
-- The service generates the secret, seals it under the master key and stores only the sealed
-- bytes; it verifies codes in Node. The database keeps the replay rule: a time step is accepted
-- once, enforced by a compare-and-set on last_used_step, so two parallel requests with the same
-- code cannot both pass.

-- Accept a time step once: true only if it is later than every step used before, and close to
-- the database's clock (a caller cannot burn a factor by claiming a step far in the future).
create function auth._take_step(p_factor_id uuid, p_step bigint) returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_step is null
     or pg_catalog.abs(p_step - pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) / 30)) > 2 then
    return false;
  end if;
  update auth.mfa_factors set last_used_step = p_step
   where id = p_factor_id and (last_used_step is null or last_used_step < p_step);
  return found;
end
$$;

-- Second-factor attempts per user, wherever they come from: counted before the code is checked
-- (as for passwords), cleared on success; lock_after consecutive failures lock the factor for
-- lock_duration. Without it, anyone holding the password could log in again and again for fresh
-- challenges and guess codes without end.
create function auth._mfa_take(p_user_id uuid, p_source inet) returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_key bytea := auth._keyed('mfa:' || p_user_id::text);
  t auth.throttle;
  u auth.users;
begin
  insert into auth.throttle as x (scope, key, failures, last_failure_at, window_start)
  values ('mfa', v_key, 1, v_now, v_now)
  on conflict (scope, key) do update
    set failures = case when x.last_failure_at < v_now - pol.failure_memory
                          or (x.locked_until is not null and x.locked_until <= v_now) then 1
                        else x.failures + 1 end,
        locked_until = case when x.locked_until <= v_now then null else x.locked_until end,
        last_failure_at = v_now
  returning x.* into t;
  if t.locked_until > v_now then
    select * into u from auth.users where id = p_user_id;
    perform auth._event('auth.mfa_throttled', 'warning', p_user_id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('failures', t.failures));
    return false;
  end if;
  if t.failures >= pol.lock_after then
    update auth.throttle set locked_until = v_now + pol.lock_duration where scope = 'mfa' and key = v_key;
    select * into u from auth.users where id = p_user_id;
    perform auth._event('auth.mfa_locked', 'warning', p_user_id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('failures', t.failures, 'locked_for', pol.lock_duration::text));
    return t.failures = pol.lock_after;
  end if;
  return true;
end
$$;

create function auth._mfa_clear(p_user_id uuid) returns void
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  delete from auth.throttle where scope = 'mfa' and key = auth._keyed('mfa:' || p_user_id::text)
$$;

-- Before the service checks a code for step-up or enrolment: counts the attempt and returns the
-- factor, or nothing when the user's second factor is locked.
create function auth.mfa_attempt(p_user_id uuid, p_source inet default null)
returns table (factor_id uuid, status text, secret_sealed bytea, master_key_id text, last_used_step bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not auth._mfa_take(p_user_id, p_source) then
    return;
  end if;
  return query select f.id, f.status, f.secret_sealed, f.master_key_id, f.last_used_step
                 from auth.mfa_factors f where f.user_id = p_user_id;
end
$$;

-- Start enrolment: a pending factor (replacing an earlier pending one). Refused while an active
-- factor exists: disable it first, from an aal2 session.
create function auth.mfa_enrol(p_user_id uuid, p_factor_id uuid, p_secret_sealed bytea, p_master_key_id text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if exists (select 1 from auth.mfa_factors f where f.user_id = p_user_id and f.status = 'active') then
    raise exception using errcode = 'PW306', message = 'a second factor is already active';
  end if;
  delete from auth.mfa_factors f where f.user_id = p_user_id and f.status = 'pending';
  insert into auth.mfa_factors (id, user_id, secret_sealed, master_key_id) values
    (p_factor_id, p_user_id, p_secret_sealed, p_master_key_id);
end
$$;

create function auth.mfa_factor(p_user_id uuid)
returns table (factor_id uuid, status text, secret_sealed bytea, master_key_id text, last_used_step bigint)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select f.id, f.status, f.secret_sealed, f.master_key_id, f.last_used_step
    from auth.mfa_factors f where f.user_id = p_user_id
$$;

-- Finish enrolment with a verified code: activate the factor, store the recovery-code digests,
-- end every session of the user (a session stolen before enrolment must not live on at aal1 and
-- step itself up), and open a new aal2 session for the caller (new id, new refresh token).
create function auth.mfa_activate(
  p_user_id           uuid,
  p_factor_id         uuid,
  p_step              bigint,
  p_recovery_digests  bytea[],
  p_session_id        uuid,
  p_refresh_digest    bytea,
  p_source            inet default null,
  p_user_agent        text default null
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
begin
  select * into u from auth.users x where x.id = p_user_id;
  select * into old from auth.sessions x where x.id = p_session_id and x.user_id = p_user_id for update;
  if not auth._session_usable(old, v_now) then
    raise exception using errcode = 'PW302', message = 'the session is not valid';
  end if;
  if not exists (select 1 from auth.mfa_factors f where f.id = p_factor_id and f.user_id = p_user_id and f.status = 'pending') then
    raise exception using errcode = 'PW306', message = 'no pending second factor to activate';
  end if;
  if not auth._take_step(p_factor_id, p_step) then
    perform auth._event('auth.mfa_failed', 'notice', u.id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('reason', 'replayed_code', 'during', 'enrolment'));
    return;
  end if;
  perform auth._mfa_clear(u.id);
  update auth.mfa_factors set status = 'active', activated_at = v_now where id = p_factor_id;
  delete from auth.recovery_codes r where r.user_id = p_user_id;
  insert into auth.recovery_codes (user_id, code_digest)
  select p_user_id, d from pg_catalog.unnest(p_recovery_digests) d;
  perform auth.revoke_sessions(u.id, null, 'mfa_enrolled', u.id::text, p_source);
  delete from auth.mfa_challenges c where c.user_id = u.id;
  s := auth._create_session(u.id, 'aal2', array['pwd', 'totp'], p_source, p_user_agent, p_refresh_digest, null, v_now,
                            old.absolute_expires_at);
  perform auth._event('auth.mfa_enrolled', 'notice', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('kind', 'totp', 'recovery_codes', pg_catalog.cardinality(p_recovery_digests)), s.id);
  return next auth._grant(s);
end
$$;

-- Second step of a login: look up the challenge and count the attempt (committed even when the
-- code then turns out wrong). No row: unknown, used, expired, out of attempts, or (for a TOTP
-- code) the user's second factor is locked.
create function auth.mfa_challenge(p_challenge_digest bytea, p_totp boolean default true)
returns table (user_id uuid, factor_id uuid, secret_sealed bytea, master_key_id text, last_used_step bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pol auth.policy := auth._policy();
  c auth.mfa_challenges;
begin
  update auth.mfa_challenges x set attempts = x.attempts + 1
   where x.token_digest = p_challenge_digest and x.used_at is null
     and x.expires_at > pg_catalog.clock_timestamp() and x.attempts < pol.mfa_challenge_attempts
  returning x.* into c;
  -- TOTP codes (10^6 values) count toward the user's lock; recovery codes (60 random bits) only
  -- toward the challenge's attempts, so the owner keeps a way in while the factor is locked
  if c.user_id is null or (p_totp and not auth._mfa_take(c.user_id, c.client_addr)) then
    return;
  end if;
  return query select f.user_id, f.id, f.secret_sealed, f.master_key_id, f.last_used_step
                 from auth.mfa_factors f where f.user_id = c.user_id and f.status = 'active';
end
$$;

-- Completes an MFA login: the code was verified in Node (p_step), or a recovery code is offered
-- (p_recovery_digest). Consumes the challenge and the step or code, then opens an aal2 session.
create function auth.mfa_complete(
  p_challenge_digest  bytea,
  p_step              bigint,
  p_recovery_digest   bytea,
  p_refresh_digest    bytea,
  p_source            inet default null,
  p_user_agent        text default null
) returns setof auth.session_grant
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  c auth.mfa_challenges;
  f auth.mfa_factors;
  u auth.users;
  s auth.sessions;
  v_method text;
begin
  select * into c from auth.mfa_challenges x
   where x.token_digest = p_challenge_digest and x.used_at is null and x.expires_at > v_now
   for update;
  if c.user_id is null then
    return;
  end if;
  select * into u from auth.users x where x.id = c.user_id and x.status = 'active';
  select * into f from auth.mfa_factors x where x.user_id = c.user_id and x.status = 'active';
  if u.id is null or f.id is null then
    return;
  end if;
  if p_step is not null then
    v_method := 'totp';
    if not auth._take_step(f.id, p_step) then
      perform auth._event('auth.mfa_failed', 'warning', u.id::text, u.tenant, p_source,
        pg_catalog.jsonb_build_object('reason', 'replayed_code'));
      return;
    end if;
  else
    v_method := 'recovery';
    update auth.recovery_codes r set used_at = v_now
     where r.user_id = u.id and r.code_digest = p_recovery_digest and r.used_at is null;
    if not found then
      perform auth._event('auth.mfa_failed', 'notice', u.id::text, u.tenant, p_source,
        pg_catalog.jsonb_build_object('reason', 'bad_recovery_code'));
      return;
    end if;
    perform auth._event('auth.recovery_code_used', 'warning', u.id::text, u.tenant, p_source,
      pg_catalog.jsonb_build_object('remaining',
        (select pg_catalog.count(*) from auth.recovery_codes r where r.user_id = u.id and r.used_at is null)));
  end if;
  update auth.mfa_challenges set used_at = v_now where token_digest = c.token_digest;
  perform auth._mfa_clear(u.id);
  -- the password step's address: the throttle pair finish_login left counted
  perform auth._login_completed(u.id, c.client_addr, v_now);
  s := auth._create_session(u.id, 'aal2', array['pwd', v_method], p_source, p_user_agent, p_refresh_digest, null, v_now);
  perform auth._event('auth.mfa_verified', 'info', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('method', v_method), s.id);
  perform auth._event('auth.login_succeeded', 'info', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('aal', 'aal2', 'user_agent', pg_catalog.left(p_user_agent, 256)), s.id);
  return next auth._grant(s);
end
$$;

-- A wrong code (checked in Node): recorded as an event. The challenge already counted it.
create function auth.mfa_failed(p_user_id uuid, p_reason text, p_source inet default null) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  u auth.users;
begin
  select * into u from auth.users x where x.id = p_user_id;
  perform auth._event('auth.mfa_failed', 'notice', p_user_id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('reason', coalesce(p_reason, 'wrong_code')));
end
$$;

-- Step-up of an existing aal1 session with a verified code: the old session ends and a new aal2
-- one replaces it (new id, new refresh token; ASVS 7.2.4), so a token taken before the step-up
-- never carries the higher level.
create function auth.mfa_step_up(
  p_session_id      uuid,
  p_factor_id       uuid,
  p_step            bigint,
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
  old auth.sessions;
  s auth.sessions;
  u auth.users;
begin
  select * into old from auth.sessions x where x.id = p_session_id for update;
  if not auth._session_usable(old, v_now)
     or not exists (select 1 from auth.mfa_factors f where f.id = p_factor_id and f.user_id = old.user_id and f.status = 'active') then
    return;
  end if;
  if not auth._take_step(p_factor_id, p_step) then
    perform auth._event('auth.mfa_failed', 'warning', old.user_id::text, old.tenant, p_source,
      pg_catalog.jsonb_build_object('reason', 'replayed_code', 'during', 'step_up'), old.id);
    return;
  end if;
  perform auth._mfa_clear(old.user_id);
  perform auth._end_session(old.id, 'stepped_up', v_now);
  s := auth._create_session(old.user_id, 'aal2',
         case when 'totp' = any (old.amr) then old.amr else old.amr || '{totp}'::text[] end,
         p_source, p_user_agent, p_refresh_digest, null, v_now, old.absolute_expires_at);
  select * into strict u from auth.users x where x.id = old.user_id;
  perform auth._event('auth.mfa_verified', 'info', u.id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('method', 'totp', 'during', 'step_up', 'replaced_session', old.id), s.id);
  return next auth._grant(s);
end
$$;

create function auth.mfa_disable(p_user_id uuid, p_actor text default null, p_source inet default null) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  u auth.users;
begin
  select * into u from auth.users x where x.id = p_user_id;
  delete from auth.mfa_factors f where f.user_id = p_user_id;
  if not found then
    return false;
  end if;
  delete from auth.recovery_codes r where r.user_id = p_user_id;
  delete from auth.mfa_challenges c where c.user_id = p_user_id;
  perform auth._mfa_clear(p_user_id);
  perform auth._event('auth.mfa_disabled', 'warning', p_user_id::text, u.tenant, p_source,
    pg_catalog.jsonb_build_object('by', coalesce(p_actor, p_user_id::text)));
  return true;
end
$$;
