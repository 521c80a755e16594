-- pgwarden:privileged
--
-- auth 0001: the auth service's role.
--
-- The service is trusted to tell the database whether a password or a TOTP code was right
-- (it checks them in Node, so the database never sees them), which means whoever holds this role
-- can open sessions for any user. It is therefore its own role, granted to the service's login
-- and to no person; security_admin (people who manage users and policies) does not get it.
--
-- Runs as the installing role because roles are cluster-wide; created only when missing, like
-- core's roles (another database of the cluster may already use it).

do $role$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = {{role_literal:auth_service}}) then
    begin
      execute pg_catalog.format('create role %I nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls',
                                {{role_literal:auth_service}});
    exception when duplicate_object or unique_violation then
      null; -- created meanwhile by an install into another database of this cluster
    end;
  end if;
end
$role$;

comment on role {{role:auth_service}} is
  'pgwarden: the auth service''s login is a member; vouches for password and TOTP checks done in Node';
