-- auth 0007: JWT signing keys and housekeeping.
--
-- One active key signs; a rotation retires it, keeping its public half published until
-- p_keep_published has passed (the access-token lifetime plus clock skew), so no token it
-- signed is refused while still valid.

create function auth.add_signing_key(
  p_kid               text,
  p_alg               text,
  p_public_jwk        jsonb,
  p_private_sealed    bytea,
  p_master_key_id     text,
  p_keep_published    interval
) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_retired text[];
begin
  with retired as (
    update auth.signing_keys set retired_at = v_now, expires_at = v_now + p_keep_published
     where retired_at is null returning kid
  ) select pg_catalog.array_agg(kid) into v_retired from retired;
  insert into auth.signing_keys (kid, alg, public_jwk, private_key_sealed, master_key_id, created_at)
  values (p_kid, p_alg, p_public_jwk, p_private_sealed, p_master_key_id, v_now);
  perform auth._event('auth.signing_key_rotated', 'notice', null, null, null,
    pg_catalog.jsonb_build_object('kid', p_kid, 'alg', p_alg, 'retired', coalesce(v_retired, '{}'),
      'retired_published_until', v_now + p_keep_published));
end
$$;

-- The keys to publish in the JWKS: the active one and retired ones not yet expired.
create function auth.published_signing_keys()
returns table (kid text, alg text, public_jwk jsonb, active boolean, expires_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select k.kid, k.alg, k.public_jwk, k.retired_at is null, k.expires_at
    from auth.signing_keys k
   where k.retired_at is null or k.expires_at > pg_catalog.clock_timestamp()
   order by k.created_at desc
$$;

create function auth.active_signing_key()
returns table (kid text, alg text, public_jwk jsonb, private_key_sealed bytea, master_key_id text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select k.kid, k.alg, k.public_jwk, k.private_key_sealed, k.master_key_id
    from auth.signing_keys k where k.retired_at is null
$$;

-- Housekeeping: drops ended sessions (with their token families), stale challenges, throttle
-- rows and expired retired keys older than p_keep. Security events stay in logs.notification_log.
create function auth.prune(p_keep interval default interval '30 days')
returns table (sessions bigint, challenges bigint, throttle bigint, signing_keys bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_cut timestamptz := pg_catalog.clock_timestamp() - p_keep;
  pol auth.policy := auth._policy();
  a bigint; b bigint; c bigint; d bigint;
begin
  delete from auth.sessions s
   where coalesce(s.revoked_at, least(s.idle_expires_at, s.absolute_expires_at)) < v_cut;
  get diagnostics a = row_count;
  delete from auth.mfa_challenges x where x.expires_at < v_cut;
  get diagnostics b = row_count;
  delete from auth.throttle t
   where coalesce(t.last_failure_at, t.window_start) < pg_catalog.clock_timestamp() - greatest(pol.failure_memory, pol.lock_duration, interval '1 hour')
     and (t.locked_until is null or t.locked_until < pg_catalog.clock_timestamp());
  get diagnostics c = row_count;
  delete from auth.signing_keys k where k.retired_at is not null and k.expires_at < v_cut;
  get diagnostics d = row_count;
  return query select a, b, c, d;
end
$$;
