-- auth 0007: who may call what. The tables are granted to no one.
--
--   security_admin  the auth service's login (and admins): every function below.
--   anon, app_user  SQL-only clients holding an opaque session token: validate and log out.
--   auditor         reads identity metadata for reviews, never hashes, digests or secrets.

grant usage on schema auth to {{role:security_admin}}, {{role:anon}}, {{role:app_user}}, {{role:auditor}};

grant execute on function
  auth.hash_password(text),
  auth.register_user(text, text, text, text, text[], inet),
  auth.begin_login(text, inet),
  auth.finish_login(text, inet, text, boolean, text, text, bytea, bytea, bytea, text),
  auth.authenticate_user(text, text, text, inet),
  auth.refresh_session(bytea, bytea, inet, text),
  auth.check_session(uuid),
  auth.validate_session(text),
  auth.end_session(uuid, text, inet),
  auth.logout(text),
  auth.revoke_sessions(uuid, uuid, text, text, inet),
  auth.list_sessions(uuid),
  auth.change_password(uuid, uuid, text, bytea, inet, text),
  auth.set_password(uuid, text, text),
  auth.set_user_status(uuid, text, text, text),
  auth.get_user(uuid),
  auth.mfa_enrol(uuid, uuid, bytea, text),
  auth.mfa_factor(uuid),
  auth.mfa_activate(uuid, uuid, bigint, bytea[], uuid, bytea, inet, text),
  auth.mfa_attempt(uuid, inet),
  auth.mfa_challenge(bytea),
  auth.mfa_complete(bytea, bigint, bytea, bytea, inet, text),
  auth.mfa_failed(uuid, text, inet),
  auth.mfa_step_up(uuid, uuid, bigint, bytea, inet, text),
  auth.mfa_disable(uuid, text, inet),
  auth.add_signing_key(text, text, jsonb, bytea, text, interval),
  auth.published_signing_keys(),
  auth.active_signing_key(),
  auth.prune(interval)
to {{role:security_admin}};

grant execute on function auth.validate_session(text), auth.logout(text) to {{role:anon}}, {{role:app_user}};

-- Policy changes are admin actions; the table is small and has no secrets.
grant select, update on auth.policy to {{role:security_admin}};
grant select on auth.policy to {{role:auditor}};
grant select (id, email, tenant, display_name, roles, status, status_reason, created_at, updated_at)
  on auth.users to {{role:auditor}}, {{role:security_admin}};
grant select (id, user_id, tenant, created_at, last_seen_at, idle_expires_at, absolute_expires_at, client_addr,
              user_agent, aal, amr, revoked_at, revoked_reason)
  on auth.sessions to {{role:auditor}}, {{role:security_admin}};
