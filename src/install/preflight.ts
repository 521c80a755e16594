import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { Catalog } from './catalog.js';
import type { InstallPlan } from './plan.js';
import type { RoleNames } from './roles.js';
import { type ServerFacts, serverMajor, supportedMajors } from './server-facts.js';

/**
 * Refuses, before anything is changed, an install that cannot complete: an unsupported server,
 * missing privileges, a missing extension, or a schema that already holds someone else's objects.
 */
export async function preflight(
  client: pg.ClientBase,
  facts: ServerFacts,
  plan: InstallPlan,
  catalog: Catalog,
  roles: RoleNames,
): Promise<void> {
  const major = serverMajor(facts);
  if (major < supportedMajors.min) {
    throw new PgwardenError(
      ErrorCodes.INSTALL_UNSUPPORTED_SERVER,
      `PostgreSQL ${facts.serverVersion} is not supported`,
      {
        hint: `pgwarden needs PostgreSQL ${supportedMajors.min} or later`,
      },
    );
  }
  if (plan.files.length === 0) return;

  const missing: string[] = [];
  // Only the files that create roles need CREATEROLE; other privileged files (audit 0004's event
  // triggers) skip what a non-superuser cannot do.
  const needsRoles = plan.files.some(
    (f) => f.privileged && f.version === 1 && (f.module === 'core' || f.module === 'auth'),
  );
  if (needsRoles && !facts.superuser && !facts.createRole) {
    missing.push('CREATEROLE (to create the pgwarden group roles)');
  }
  if (needsRoles && !facts.superuser && !facts.canCreateInDatabase) {
    missing.push(`CREATE on database ${facts.database} (to create pgwarden's schemas)`);
  }
  if (!facts.superuser) {
    const { rows } = await client.query<{ exists: boolean; member: boolean }>(
      `select exists (select 1 from pg_catalog.pg_roles where rolname = $1) as exists,
              coalesce((select pg_catalog.pg_has_role(current_user, $1,
                                 case when pg_catalog.current_setting('server_version_num')::int >= 160000
                                      then 'SET' else 'MEMBER' end)
                          from pg_catalog.pg_roles where rolname = $1), false) as member`,
      [roles.owner],
    );
    const row = rows[0];
    if (row?.exists && !row.member && !needsRoles) {
      missing.push(
        `membership in role ${roles.owner} (granted by core 0001; ask a superuser: grant ${roles.owner} to ${facts.currentUser})`,
      );
    }
  }
  if (missing.length > 0) {
    throw new PgwardenError(
      ErrorCodes.INSTALL_PRIVILEGES,
      `role ${facts.currentUser} lacks privileges the install needs`,
      {
        detail: missing.join('; '),
        hint: 'connect as a superuser, or as the database owner with CREATEROLE (the usual master user on managed services)',
      },
    );
  }

  const plannedModules = new Set(plan.modules.map((m) => m.module));
  for (const mod of catalog.modules.filter((m) => plannedModules.has(m.name))) {
    for (const ext of mod.extensions) {
      const info = facts.extensions.find((e) => e.name === ext);
      const available = info ? info.available : await extensionAvailable(client, ext);
      if (!available && !info?.installedVersion) {
        throw new PgwardenError(
          ErrorCodes.INSTALL_EXTENSION_MISSING,
          `the ${ext} extension is not available on this server`,
          {
            detail: `module ${mod.name} needs ${ext}`,
            hint: `install the PostgreSQL contrib package for your server (e.g. postgresql-contrib), or enable ${ext} on your managed service`,
          },
        );
      }
    }
  }

  await refuseForeignSchemas(client, plan, catalog, roles);
  await refuseForeignRoles(client, plan, roles);
}

/**
 * Roles are cluster-wide, so pgwarden's may already exist: made by an install into another
 * database (fine), or planted by someone who wants a way into pgwarden's objects. Before a file that
 * creates roles runs, each existing role must have the attributes pgwarden gives it, the owner role
 * no member or admin but superusers and the installing role, and the per-request roles no member
 * but the authenticator (PW216). The auditor and security admin roles are meant to be granted to
 * people, and the auth service role to the service's login, so their members are not checked.
 */
export async function refuseForeignRoles(client: pg.ClientBase, plan: InstallPlan, roles: RoleNames): Promise<void> {
  // Only the roles the planned files create: core 0001 makes the six core roles, auth 0001 the
  // auth service role. Roles an earlier install made (and their members since) are not re-judged
  // on an upgrade.
  const keys = Object.keys(roles).filter((key) =>
    key === 'auth_service'
      ? plan.files.some((f) => f.module === 'auth' && f.version === 1)
      : plan.files.some((f) => f.module === 'core' && f.version === 1),
  );
  if (keys.length === 0) return;
  const names = keys.map((k) => roles[k as keyof RoleNames]);
  const { rows } = await client.query<{ role: string; problem: string }>(
    `with expected(key, name, login) as (select * from unnest($1::text[], $2::text[], $3::boolean[]))
     select r.rolname as role, p.problem
       from expected e
       join pg_catalog.pg_roles r on r.rolname = e.name
       cross join lateral (
         select 'is a superuser or has BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION' as problem
          where r.rolsuper or r.rolbypassrls or r.rolcreaterole or r.rolcreatedb or r.rolreplication
         union all
         select case when e.login then 'cannot log in' else 'can log in' end where r.rolcanlogin <> e.login
         union all
         select 'inherits the privileges of its roles (must be NOINHERIT)' where e.key = 'authenticator' and r.rolinherit
         union all
         select pg_catalog.format('has member %s%s', m.rolname, case when am.admin_option then ' (with admin option)' else '' end)
           from pg_catalog.pg_auth_members am
           join pg_catalog.pg_roles m on m.oid = am.member
          where am.roleid = r.oid
            and not m.rolsuper
            and case e.key
                  when 'owner' then m.rolname <> current_user
                  when 'anon' then m.rolname <> $4
                  when 'app_user' then m.rolname <> $4
                  -- the service's login is a plain member; someone able to hand the role on
                  -- (ADMIN OPTION) could let anyone vouch for passwords: a planted role
                  when 'auth_service' then am.admin_option and m.rolname <> current_user
                  else false
                end
       ) p
      order by 1, 2`,
    [keys, names, keys.map((k) => k === 'authenticator'), roles.authenticator],
  );
  if (rows.length === 0) return;
  throw new PgwardenError(
    ErrorCodes.INSTALL_ROLE_CONFLICT,
    `role ${rows[0]!.role} already exists and ${rows[0]!.problem}; pgwarden will not adopt it`,
    {
      detail: rows.map((r) => `${r.role}: ${r.problem}`).join('\n'),
      hint: 'find out who created it; drop it or revoke what pgwarden did not give it, or install with another --role-prefix',
    },
  );
}

async function extensionAvailable(client: pg.ClientBase, name: string): Promise<boolean> {
  const { rows } = await client.query(`select 1 from pg_catalog.pg_available_extensions where name = $1`, [name]);
  return rows.length > 0;
}

/**
 * A schema a module would create may already exist only if it is pgwarden's: owned by the owner
 * role (an install in progress or interrupted), empty, or holding only tables pgwarden kept at
 * uninstall (commented "pgwarden: …"). Anything else is someone else's schema, which pgwarden
 * must neither adopt nor later drop (PW213). Run again under the install lock, on the fresh plan.
 */
export async function refuseForeignSchemas(
  client: pg.ClientBase,
  plan: InstallPlan,
  catalog: Catalog,
  roles: RoleNames,
): Promise<void> {
  const freshModules = plan.modules.filter((m) => m.from === 0).map((m) => m.module);
  const schemas = catalog.modules.filter((m) => freshModules.includes(m.name)).flatMap((m) => m.schemas);
  if (schemas.length === 0) return;
  const { rows } = await client.query<{ schema: string; object: string }>(
    `select n.nspname as schema, c.relname as object
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[])
        and pg_catalog.pg_get_userbyid(n.nspowner) <> $2
        and c.relkind in ('r', 'p', 'v', 'm', 'f')
        -- A table kept by uninstall carries a "pgwarden:" comment, but anyone who can create a
        -- table can write a comment: it counts as kept only when owned by the owner role, or by
        -- a superuser or the installing role with no trigger, policy or rule attached.
        and not (
          coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') like 'pgwarden:%'
          and c.relkind in ('r', 'p')
          and (pg_catalog.pg_get_userbyid(c.relowner) = $2
               or ((select rolsuper from pg_catalog.pg_roles where oid = c.relowner)
                    or pg_catalog.pg_get_userbyid(c.relowner) = current_user)
                  and not exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = c.oid and not t.tgisinternal)
                  and not exists (select 1 from pg_catalog.pg_policy p where p.polrelid = c.oid)
                  and not exists (select 1 from pg_catalog.pg_rewrite w where w.ev_class = c.oid))
        )
        and not exists (select 1 from pg_catalog.pg_inherits i
                          join pg_catalog.pg_class parent on parent.oid = i.inhparent
                         where i.inhrelid = c.oid
                           and coalesce(pg_catalog.obj_description(parent.oid, 'pg_class'), '') like 'pgwarden:%')
     union all
     select n.nspname, p.proname || '()'
       from pg_catalog.pg_proc p
       join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where n.nspname = any($1::text[])
        and pg_catalog.pg_get_userbyid(n.nspowner) <> $2
        and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
      order by 1, 2
      limit 5`,
    [schemas, roles.owner],
  );
  if (rows.length > 0) {
    const first = rows[0]!;
    throw new PgwardenError(
      ErrorCodes.INSTALL_SCHEMA_CONFLICT,
      `schema ${first.schema} already exists and holds objects that are not pgwarden's`,
      {
        detail: rows.map((r) => `${r.schema}.${r.object}`).join(', '),
        hint: `pgwarden owns the schemas ${schemas.join(', ')}; rename or move the existing schema before installing`,
      },
    );
  }
}
