import type { CheckDefinition, Finding } from '../types.js';
import { sensitiveColumnCheck } from './privilege-sensitive.js';
import { exposedRule, exposedSchemas, outcome, schemaFacts } from './rls-scope.js';

// Grant lints: what PUBLIC holds, who may pass privileges on, where extensions live.

const section = 'Privileges and schema';
const writes = new Set(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);

interface PublicGrantRow {
  object: string;
  kind: string;
  privileges: string[];
  columnPrivileges: string[];
}

const publicGrantsCheck: CheckDefinition = {
  id: 'PRIV-004',
  family: 'privilege',
  section,
  title: 'Tables, views and sequences in exposed schemas grant nothing to PUBLIC',
  severity: 'medium',
  source: 'sql',
  cis: '4.6',
  references: ['https://www.postgresql.org/docs/current/ddl-priv.html', 'ASVS 5.0 V8.2.2'],
  rationale: `PUBLIC is every role, present and future: a grant to PUBLIC hands the object to every login and every request role, bypassing whatever role design the application has. High when PUBLIC may write (INSERT, UPDATE, DELETE, TRUNCATE, table or column level), medium for read-only grants. Functions are not reported here: PUBLIC EXECUTE is PostgreSQL's default for every function, and the dangerous case, security definer functions, is PRIV-002's. ${exposedRule}`,
  remediation: 'REVOKE ALL ON TABLE … FROM PUBLIC (or ON SEQUENCE), then grant each role what it needs.',
  evaluate: async (ctx) => {
    const schemas = await exposedSchemas(ctx);
    const rows = await ctx.query<PublicGrantRow>(
      'priv.public-grants',
      `select pg_catalog.format('%I.%I', n.nspname, c.relname) as object,
              case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
                             when 'f' then 'foreign table' else 'table' end as kind,
              array(select distinct a.privilege_type::text from pg_catalog.aclexplode(c.relacl) a
                     where a.grantee = 0 order by 1) as privileges,
              array(select distinct pg_catalog.format('%s (%I)', a.privilege_type, att.attname)
                      from pg_catalog.pg_attribute att cross join pg_catalog.aclexplode(att.attacl) a
                     where att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped and a.grantee = 0
                     order by 1) as "columnPrivileges"
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and n.nspname = any($1::text[])
        order by n.nspname, c.relname`,
      [schemas],
    );
    const findings: Finding[] = rows
      .filter((r) => r.privileges.length > 0 || r.columnPrivileges.length > 0)
      .map((r): Finding => {
        const all = [...r.privileges, ...r.columnPrivileges];
        const writable = all.some((p) => writes.has(p.split(' ')[0]!));
        return {
          object: r.object,
          message: `${r.kind} ${r.object} grants ${all.join(', ')} to PUBLIC`,
          evidence: { kind: r.kind, privileges: r.privileges, columnPrivileges: r.columnPrivileges },
          severity: writable ? 'high' : 'medium',
          fix: [
            {
              sql: `revoke all on ${r.kind === 'sequence' ? 'sequence' : 'table'} ${r.object} from public;`,
              safety: 'manual',
            },
          ],
        };
      });
    return outcome(findings, { exposedSchemas: schemas });
  },
};

const schemaCreateCheck: CheckDefinition = {
  id: 'PRIV-005',
  family: 'privilege',
  section,
  title: 'No schema but public grants CREATE to PUBLIC',
  severity: 'high',
  source: 'sql',
  references: ['https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PATTERNS'],
  rationale:
    "CREATE on a schema lets a role add tables, functions and operators there; when the schema is on anyone's search_path, a function or operator planted in it can shadow the real one and run with the caller's rights (CVE-2018-1058). Every schema except pg_*, information_schema and public is checked, pgwarden's included (the public schema is CIS-4.10's).",
  remediation: 'REVOKE CREATE ON SCHEMA … FROM PUBLIC, then grant CREATE to the roles that deploy into it.',
  evaluate: async (ctx) => {
    const schemas = await schemaFacts(ctx);
    const findings: Finding[] = schemas
      .filter((s) => s.name !== 'public' && s.creators.includes('PUBLIC'))
      .map((s) => ({
        object: `schema ${s.name}`,
        message: `schema ${s.name} grants CREATE to PUBLIC: every role can create objects in it`,
        evidence: { owner: s.owner, creators: s.creators },
        fix: [{ sql: `revoke create on schema ${s.ident} from public;`, safety: 'manual' as const }],
      }));
    return outcome(findings, { schemas: schemas.length });
  },
};

interface GrantOptionRow {
  object: string;
  kind: 'table' | 'sequence' | 'function' | 'procedure' | 'schema';
  target: string;
  grants: Array<{ grantee: string; ident: string; privileges: string[] }>;
}

const grantOptionCheck: CheckDefinition = {
  id: 'PRIV-006',
  family: 'privilege',
  section,
  title: 'No role other than the owner holds privileges WITH GRANT OPTION',
  severity: 'medium',
  source: 'sql',
  cis: '4.6',
  references: ['https://www.postgresql.org/docs/current/sql-grant.html'],
  rationale:
    "A privilege held WITH GRANT OPTION can be passed on by its holder to any role, so who may read or change the object is no longer decided by its owner alone. Checked on tables, views, sequences, functions and schemas in every non-system schema, pgwarden's included; superuser grantees are not reported.",
  remediation: 'REVOKE GRANT OPTION FOR … ON … FROM … (CASCADE also revokes what the holder granted on).',
  evaluate: async (ctx) => {
    const rows = await ctx.query<GrantOptionRow>(
      'priv.grant-options',
      `with held as (
         select pg_catalog.format('%I.%I', n.nspname, c.relname) as object,
                case c.relkind when 'S' then 'sequence' else 'table' end as kind, c.relowner as owner, a.grantee, a.privilege_type
           from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          cross join pg_catalog.aclexplode(c.relacl) a
          where a.is_grantable and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
         union all
         select pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)),
                case p.prokind when 'p' then 'procedure' else 'function' end, p.proowner, a.grantee, a.privilege_type
           from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
          cross join pg_catalog.aclexplode(p.proacl) a
          where a.is_grantable and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
         union all
         select pg_catalog.quote_ident(n.nspname), 'schema', n.nspowner, a.grantee, a.privilege_type
           from pg_catalog.pg_namespace n cross join pg_catalog.aclexplode(n.nspacl) a
          where a.is_grantable and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
       )
       -- One pass grouped by object and grantee (a lateral scan of held per object was quadratic).
       select case when g.kind = 'table' or g.kind = 'sequence' then g.object else g.kind || ' ' || g.object end as object,
              g.kind, g.object as target,
              pg_catalog.json_agg(pg_catalog.json_build_object('grantee', g.rolname, 'ident', pg_catalog.quote_ident(g.rolname),
                                                               'privileges', g.privileges) order by g.rolname) as grants
         from (select x.kind, x.object, r.rolname::text as rolname,
                      pg_catalog.array_agg(distinct x.privilege_type::text order by x.privilege_type::text) as privileges
                 from held x join pg_catalog.pg_roles r on r.oid = x.grantee
                where x.grantee <> x.owner and not r.rolsuper
                group by x.kind, x.object, r.rolname) g
        group by g.kind, g.object
        order by 1`,
    );
    const findings: Finding[] = rows.map((r) => ({
      object: r.object,
      message: `${r.object}: ${r.grants.map((g) => `${g.grantee} holds ${g.privileges.join(', ')}`).join('; ')} WITH GRANT OPTION`,
      evidence: { grants: r.grants.map((g) => ({ grantee: g.grantee, privileges: g.privileges })) },
      fix: r.grants.map((g) => ({
        sql: `revoke grant option for ${g.privileges.join(', ').toLowerCase()} on ${r.kind === 'sequence' ? 'sequence' : r.kind === 'table' ? 'table' : r.kind} ${r.target} from ${g.ident};`,
        safety: 'manual' as const,
      })),
    }));
    return outcome(findings, {});
  },
};

const extensionCheck: CheckDefinition = {
  id: 'PRIV-007',
  family: 'privilege',
  section,
  title: 'Extensions are not installed in the public schema',
  severity: 'low',
  source: 'sql',
  references: ['splinter 0014_extension_in_public', 'https://www.postgresql.org/docs/current/extend-extensions.html'],
  rationale:
    "An extension in public puts its functions and operators on everyone's search_path, next to whatever other roles create there, and exposes them to an API that serves public. A dedicated schema (extensions) keeps them out of the way and lets you grant USAGE deliberately.",
  remediation:
    'CREATE SCHEMA extensions; ALTER EXTENSION … SET SCHEMA extensions (relocatable extensions; others: drop and re-create).',
  evaluate: async (ctx) => {
    const rows = await ctx.query<{ name: string; ident: string; relocatable: boolean }>(
      'priv.extensions-in-public',
      `select e.extname::text as name, pg_catalog.quote_ident(e.extname) as ident, e.extrelocatable as relocatable
         from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
        where n.nspname = 'public' order by 1`,
    );
    const findings: Finding[] = rows.map((e) => ({
      object: `extension ${e.name}`,
      message: `extension ${e.name} is installed in the public schema`,
      evidence: { relocatable: e.relocatable },
      ...(e.relocatable
        ? {
            fix: [
              { sql: 'create schema if not exists extensions;', safety: 'manual' as const },
              { sql: `alter extension ${e.ident} set schema extensions;`, safety: 'manual' as const },
            ],
          }
        : {}),
    }));
    return outcome(findings, {});
  },
};

/**
 * Grant, schema, extension and sensitive-column lints (PRIV-004 … PRIV-008).
 *
 * @example
 * privilegeGrantChecks.map((c) => c.id); // ['PRIV-004', …]
 */
export const privilegeGrantChecks: CheckDefinition[] = [
  publicGrantsCheck,
  schemaCreateCheck,
  grantOptionCheck,
  extensionCheck,
  sensitiveColumnCheck,
];
