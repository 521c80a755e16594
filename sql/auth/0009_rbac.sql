-- auth 0009: role-based access control (the tables are in 0002). Application roles (not
-- PostgreSQL roles) hold permissions; users get roles globally (auth.users.roles) or per tenant
-- (role_assignments). Access tokens carry the user's roles for the session's tenant and the
-- user's authz_version; auth.has_permission() (0010) maps roles to permissions at query time, so
-- a permission added to or taken from a role counts on the next statement. Any change to what a
-- user holds bumps users.authz_version, and a token carrying an older version is refused at its
-- next request (auth.context_enter, 0010): the client refreshes and gets the new roles.

-- Writes one administrative security event: the actor is the administrator (as the caller
-- names them, else the database user), the subject what was changed.
create function auth._admin_event(
  p_event_type  text,
  p_actor       text,
  p_subject     text,
  p_tenant      text,
  p_details     jsonb
) returns void
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  insert into logs.notification_log
    (event_type, severity, actor, subject, tenant, client_addr, application_name, details, db_user)
  values
    (p_event_type, 'notice', coalesce(p_actor, session_user::text), p_subject, p_tenant,
     pg_catalog.inet_client_addr(), pg_catalog.current_setting('application_name', true),
     coalesce(p_details, '{}'::jsonb), session_user::text)
$$;

-- Bumps the authz_version of the users whose effective roles a change touched.
create function auth._authz_changed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_table_name = 'users' then
    new.authz_version := old.authz_version + 1;
    -- A session belongs to the tenant it was opened in: moving the user ends them all, so no
    -- refresh can carry the old tenant (and its roles) on.
    if old.tenant is distinct from new.tenant then
      perform auth._end_session(x.id, 'tenant_changed', pg_catalog.clock_timestamp())
        from auth.sessions x where x.user_id = new.id and x.revoked_at is null;
    end if;
    return new;
  end if;
  update auth.users set authz_version = authz_version + 1 where id in (select user_id from changed_rows);
  return null;
end
$$;

create trigger users_roles_changed before update of roles, tenant, status on auth.users
  for each row when (old.roles is distinct from new.roles or old.tenant is distinct from new.tenant
                     or old.status is distinct from new.status)
  execute function auth._authz_changed();
create trigger role_assignments_inserted after insert on auth.role_assignments
  referencing new table as changed_rows for each statement execute function auth._authz_changed();
create trigger role_assignments_deleted after delete on auth.role_assignments
  referencing old table as changed_rows for each statement execute function auth._authz_changed();

-- An assignment edited in place (only the owner can) or the table truncated: both users of an
-- edited row, and every user who held anything, get a new version.
create function auth._authz_assignments_rewritten() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'UPDATE' then
    update auth.users set authz_version = authz_version + 1 where id in (old.user_id, new.user_id);
    return new;
  end if;
  update auth.users set authz_version = authz_version + 1
   where id in (select a.user_id from auth.role_assignments a);
  return null;
end
$$;
create trigger role_assignments_updated after update on auth.role_assignments
  for each row execute function auth._authz_assignments_rewritten();
create trigger role_assignments_truncated before truncate on auth.role_assignments
  for each statement execute function auth._authz_assignments_rewritten();

-- Administration (security_admin). Every change is a security event.

-- Creates a role, or replaces the permission set of an existing one. Unknown permissions are
-- created on the way, so a role and its permissions can be declared in one call.
create function auth.rbac_define_role(
  p_role         text,
  p_permissions  text[],
  p_description  text default null,
  p_actor        text default null
) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_before text[];
  v_bad text;
begin
  if p_role is null or p_role !~ '^[a-z][a-z0-9_.:-]{0,62}$' then
    raise exception using errcode = 'PW340', message = 'a role name is 1-63 characters: a-z, 0-9, _ . : -',
      hint = 'start with a lowercase letter';
  end if;
  select p into v_bad from pg_catalog.unnest(coalesce(p_permissions, '{}')) p
   where p is null or p !~ '^[a-z][a-z0-9_.:-]{0,126}$' limit 1;
  if found then
    raise exception using errcode = 'PW340',
      message = pg_catalog.format('permission %s: a permission name is 1-127 characters: a-z, 0-9, _ . : -',
                                  coalesce(pg_catalog.quote_literal(pg_catalog.left(v_bad, 130)), 'NULL'));
  end if;
  if pg_catalog.length(p_description) > 500 then
    raise exception using errcode = 'PW340', message = 'a role description is at most 500 characters';
  end if;
  insert into auth.rbac_roles (name, description) values (p_role, p_description)
    on conflict (name) do update set description = coalesce(excluded.description, auth.rbac_roles.description);
  insert into auth.permissions (name) select distinct p from pg_catalog.unnest(p_permissions) p
    on conflict (name) do nothing;
  select coalesce(array_agg(rp.permission order by rp.permission), '{}') into v_before
    from auth.role_permissions rp where rp.role = p_role;
  delete from auth.role_permissions rp where rp.role = p_role and rp.permission <> all (coalesce(p_permissions, '{}'));
  insert into auth.role_permissions (role, permission) select distinct p_role, p from pg_catalog.unnest(p_permissions) p
    on conflict do nothing;
  perform auth._admin_event('rbac.role_defined', p_actor, p_role, null,
    pg_catalog.jsonb_build_object('role', p_role, 'before', v_before,
      'after', (select coalesce(array_agg(distinct p order by p), '{}') from pg_catalog.unnest(p_permissions) p)));
end
$$;

-- Removes a role, its permissions and every assignment of it.
create function auth.rbac_drop_role(p_role text, p_actor text default null) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from auth.rbac_roles where name = p_role;
  if not found then
    return false;
  end if;
  -- Holders through users.roles keep the name, but their tokens must not outlive the role: a
  -- role created again under the same name would otherwise re-empower them.
  update auth.users set authz_version = authz_version + 1 where p_role = any (roles);
  perform auth._admin_event('rbac.role_dropped', p_actor, p_role, null, pg_catalog.jsonb_build_object('role', p_role));
  return true;
end
$$;

-- Gives a user a role in a tenant (idempotent). Returns false when the user already held it.
create function auth.rbac_grant(p_user_id uuid, p_tenant text, p_role text, p_actor text default null) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception using errcode = 'PW309', message = 'no such user';
  end if;
  if not exists (select 1 from auth.rbac_roles r where r.name = p_role) then
    raise exception using errcode = 'PW341', message = 'no such role',
      hint = 'define it first with auth.rbac_define_role (pgwarden rbac role define)';
  end if;
  if p_tenant is null or p_tenant !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' then
    raise exception using errcode = 'PW340', message = 'a tenant is 1-64 characters: A-Z a-z 0-9 _ . : -';
  end if;
  insert into auth.role_assignments (user_id, tenant, role, granted_by) values (p_user_id, p_tenant, p_role, p_actor)
    on conflict do nothing;
  if not found then
    return false;
  end if;
  perform auth._admin_event('rbac.role_granted', p_actor, p_user_id::text, p_tenant,
    pg_catalog.jsonb_build_object('role', p_role));
  return true;
end
$$;

-- Takes a role from a user in a tenant. Tokens issued before stop working at the next request.
create function auth.rbac_revoke(p_user_id uuid, p_tenant text, p_role text, p_actor text default null) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from auth.role_assignments a where a.user_id = p_user_id and a.tenant = p_tenant and a.role = p_role;
  if not found then
    return false;
  end if;
  perform auth._admin_event('rbac.role_revoked', p_actor, p_user_id::text, p_tenant,
    pg_catalog.jsonb_build_object('role', p_role));
  return true;
end
$$;

-- Every role with its permissions and how many assignments it has.
create function auth.rbac_roles()
returns table (role text, description text, permissions text[], assignments bigint)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select r.name, r.description,
         array(select rp.permission from auth.role_permissions rp where rp.role = r.name order by 1),
         (select pg_catalog.count(*) from auth.role_assignments a where a.role = r.name)
    from auth.rbac_roles r order by r.name
$$;

-- Assignments, optionally for one user or one tenant.
create function auth.rbac_assignments(p_user_id uuid default null, p_tenant text default null)
returns table (user_id uuid, email text, tenant text, role text, granted_by text, granted_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select a.user_id, u.email, a.tenant, a.role, a.granted_by, a.granted_at
    from auth.role_assignments a join auth.users u on u.id = a.user_id
   where (p_user_id is null or a.user_id = p_user_id) and (p_tenant is null or a.tenant = p_tenant)
   order by a.tenant, u.email, a.role
$$;

grant execute on function
  auth.rbac_define_role(text, text[], text, text),
  auth.rbac_drop_role(text, text),
  auth.rbac_grant(uuid, text, text, text),
  auth.rbac_revoke(uuid, text, text, text),
  auth.rbac_roles(),
  auth.rbac_assignments(uuid, text)
to {{role:security_admin}};
grant execute on function auth.rbac_roles(), auth.rbac_assignments(uuid, text) to {{role:auditor}};
