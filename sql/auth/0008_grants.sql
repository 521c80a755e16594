-- auth 0008: who may call what. The tables are granted to no one.
--
--   auth_service    the auth service's login: the functions that take its word for a password or
--                   TOTP check (begin/finish_login, mfa_*), rotation, sessions, signing keys.
--   security_admin  people who manage users and policy: registration, status, resets, sessions,
--                   the public keys; never the functions that vouch for a check.
--   anon, app_user  SQL-only clients holding an opaque session token: validate and log out.
--   auditor         reads identity metadata for reviews, never hashes, digests or secrets.

grant usage on schema auth to {{role:auth_service}}, {{role:security_admin}}, {{role:anon}}, {{role:app_user}},
  {{role:auditor}};

-- The service: everything it calls.
grant execute on function
  auth.begin_login(text, inet),
  auth.finish_login(text, inet, text, boolean, text, text, bytea, bytea, bytea, text),
  auth.refresh_session(bytea, bytea, inet, text),
  auth.check_session(uuid),
  auth.end_session(uuid, text, inet),
  auth.change_password(uuid, uuid, text, bytea, inet, text),
  auth.mfa_enrol(uuid, uuid, bytea, text),
  auth.mfa_factor(uuid),
  auth.mfa_attempt(uuid, inet),
  auth.mfa_activate(uuid, uuid, bigint, bytea[], uuid, bytea, inet, text),
  auth.mfa_challenge(bytea, boolean),
  auth.mfa_complete(bytea, bigint, bytea, bytea, inet, text),
  auth.mfa_failed(uuid, text, inet),
  auth.mfa_step_up(uuid, uuid, bigint, bytea, inet, text),
  auth.mfa_disable(uuid, text, inet),
  auth.add_signing_key(text, text, jsonb, bytea, text, interval),
  auth.active_signing_key(),
  auth.prune(interval)
to {{role:auth_service}};

-- Both: user administration, which checks nothing on anyone's word.
grant execute on function
  auth.hash_password(text),
  auth.register_user(text, text, text, text, text[], inet),
  auth.authenticate_user(text, text, text, inet),
  auth.validate_session(text),
  auth.logout(text),
  auth.revoke_sessions(uuid, uuid, text, text, inet),
  auth.list_sessions(uuid),
  auth.set_password(uuid, text, text),
  auth.set_user_status(uuid, text, text, text),
  auth.get_user(uuid),
  auth.published_signing_keys()
to {{role:auth_service}}, {{role:security_admin}};

grant execute on function auth.validate_session(text), auth.logout(text) to {{role:anon}}, {{role:app_user}};

-- Policy changes are admin actions; the table is small and has no secrets.
grant select, update on auth.policy to {{role:security_admin}};
grant select on auth.policy to {{role:auditor}}, {{role:auth_service}};
grant select (id, email, tenant, display_name, roles, status, status_reason, created_at, updated_at)
  on auth.users to {{role:auditor}}, {{role:security_admin}};
grant select (id, user_id, tenant, created_at, last_seen_at, idle_expires_at, absolute_expires_at, client_addr,
              user_agent, aal, amr, revoked_at, revoked_reason)
  on auth.sessions to {{role:auditor}}, {{role:security_admin}};
