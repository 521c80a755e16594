-- pgTAP: the tenant-isolation matrix (R-01) of a table protected the way `pgwarden rls protect`
-- protects one, for the personas anonymous, tenant A, tenant B and admin, with real MAC'd request
-- contexts; and the coverage gate (R-21): no table a request role can reach lacks RLS, and every
-- policy of the test schema is in this file's manifest. Runs as superuser inside a transaction
-- that is rolled back. Role names use the test prefix pgw_.
-- cases: R-01 R-04 R-09 R-10 R-12 R-15 R-20 R-21
select plan(37);

-- A known context key, and a helper that enters a context the way the request layer does for a
-- token without a session: the MAC'd settings, then the role.
insert into auth.context_keys (kid, key)
  select encode(substr(sha256(k), 1, 8), 'hex'), k from (select decode(repeat('5a', 32), 'hex') k) x;

create function pg_temp.act_as(p_role text, p_sub text, p_tenant text, p_roles text[]) returns void
language plpgsql as $$
declare
  v_ctx text := json_build_object('v', 1, 'role', p_role, 'pid', pg_backend_pid(),
    'exp', floor(extract(epoch from now())) + 60, 'sub', p_sub, 'tenant', p_tenant, 'roles', p_roles,
    'aal', 'aal1', 'sid', null, 'iat', null, 'claims', json_build_object('sub', p_sub))::text;
  v_key bytea := decode(repeat('5a', 32), 'hex');
  v_mac text;
begin
  execute format('select encode(%I.hmac(convert_to($1, ''UTF8''), $2, ''sha256''), ''hex'')',
    (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pgcrypto'))
    into v_mac using v_ctx, v_key;
  v_mac := encode(substr(sha256(v_key), 1, 8), 'hex') || '.' || v_mac;
  perform set_config('pgwarden.context', v_ctx, true), set_config('pgwarden.context_mac', v_mac, true);
  perform set_config('role', p_role, true);
end $$;

-- Rows a statement touched (a data-modifying CTE cannot sit inside an assertion).
create function pg_temp.affected(p_sql text) returns int language plpgsql as $$
declare
  n int;
begin
  execute p_sql;
  get diagnostics n = row_count;
  return n;
end $$;

create schema tap_app;
grant usage on schema tap_app to pgw_app_user, pgw_anon;
create table tap_app.docs (id int primary key, tenant text not null, body text not null);
create index on tap_app.docs (tenant);
alter table tap_app.docs enable row level security, force row level security;
create policy pgw_tenant_select on tap_app.docs for select to pgw_app_user using (tenant = (select auth.tenant_id()));
create policy pgw_tenant_insert on tap_app.docs for insert to pgw_app_user with check (tenant = (select auth.tenant_id()));
create policy pgw_tenant_update on tap_app.docs for update to pgw_app_user
  using (tenant = (select auth.tenant_id())) with check (tenant = (select auth.tenant_id()));
create policy pgw_tenant_delete on tap_app.docs for delete to pgw_app_user
  using (tenant = (select auth.tenant_id()) and (select auth.has_permission('docs.delete')));
grant select, insert, update, delete on tap_app.docs to pgw_app_user;
insert into tap_app.docs values (1, 'A', 'a1'), (2, 'A', 'a2'), (3, 'B', 'b1');
select auth.rbac_define_role('docs-admin', array['docs.delete']);

-- R-21: the manifest of policies this file covers, and no reachable table without RLS.
select set_eq(
  $$select policyname::text from pg_policies where schemaname = 'tap_app'$$,
  array['pgw_tenant_select', 'pgw_tenant_insert', 'pgw_tenant_update', 'pgw_tenant_delete'],
  'R-21: every policy of the schema is in the persona manifest');
select is_empty(
  $$select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and c.relpersistence <> 't' and n.nspname not in ('pg_catalog', 'information_schema')
       and not c.relrowsecurity
       and (has_table_privilege('pgw_app_user', c.oid, 'select, insert, update, delete')
            or has_table_privilege('pgw_anon', c.oid, 'select, insert, update, delete'))$$,
  'R-21: no table a request role can reach lacks row level security');

-- Anonymous: no grant on the table at all.
set local role pgw_anon;
select throws_ok('select count(*) from tap_app.docs', '42501', null, 'R-01 anon: SELECT denied');
select throws_ok($$insert into tap_app.docs values (10, 'A', 'x')$$, '42501', null, 'R-01 anon: INSERT denied');
select throws_ok($$update tap_app.docs set body = 'x'$$, '42501', null, 'R-01 anon: UPDATE denied');
select throws_ok('delete from tap_app.docs', '42501', null, 'R-01 anon: DELETE denied');
reset role;

-- The request role without a context: default deny.
set local role pgw_app_user;
select is((select count(*)::int from tap_app.docs), 0, 'R-01 no context: SELECT sees 0 rows');
select throws_ok($$insert into tap_app.docs values (10, 'A', 'x')$$, '42501', null, 'R-01 no context: INSERT denied');
select is(pg_temp.affected($q$update tap_app.docs set body = 'x'$q$), 0,
  'R-01 no context: UPDATE touches 0 rows');
reset role;

-- Tenant A, member.
select pg_temp.act_as('pgw_app_user', '00000000-0000-4000-8000-0000000000a1', 'A', '{member}');
select results_eq('select id from tap_app.docs order by id', array[1, 2], 'R-01 tenant A: SELECT sees exactly its 2 rows');
select is((select count(*)::int from tap_app.docs where tenant = 'B'), 0, 'R-01 tenant A: 0 rows of B');
select lives_ok($$insert into tap_app.docs values (10, 'A', 'a-new')$$, 'R-01 tenant A: INSERT own tenant allowed');
select throws_ok($$insert into tap_app.docs values (11, 'B', 'forged')$$, '42501', null,
  'R-01/R-09 tenant A: INSERT into B denied');
select is(pg_temp.affected($q$update tap_app.docs set body = 'a1!' where id = 1$q$), 1,
  'R-01 tenant A: UPDATE own row allowed');
select throws_ok($$update tap_app.docs set tenant = 'B' where id = 1$$, '42501', null,
  'R-09 tenant A: moving a row to B denied (WITH CHECK)');
select is(pg_temp.affected($q$update tap_app.docs set body = 'x' where id = 3$q$), 0,
  'R-01 tenant A: UPDATE of B''s row touches 0 rows');
select is(pg_temp.affected($q$delete from tap_app.docs where id = 2$q$), 0,
  'R-01 tenant A member: DELETE without docs.delete touches 0 rows');
select throws_ok($$insert into tap_app.docs values (3, 'A', 'dup') on conflict (id) do update set body = 'overwritten'$$,
  '42501', null, 'R-10 tenant A: upsert hitting B''s id is refused');
select is((select auth.has_permission('docs.delete')), false, 'R-01 tenant A member: has_permission false');
reset role;
select is((select body from tap_app.docs where id = 3), 'b1', 'R-10: B''s row was not overwritten');

-- Tenant B, member.
select pg_temp.act_as('pgw_app_user', '00000000-0000-4000-8000-0000000000b1', 'B', '{member}');
select results_eq('select id from tap_app.docs order by id', array[3], 'R-01 tenant B: SELECT sees exactly its 1 row');
select throws_ok($$insert into tap_app.docs values (12, 'A', 'forged')$$, '42501', null, 'R-01 tenant B: INSERT into A denied');
select is(pg_temp.affected($q$update tap_app.docs set body = 'x' where tenant = 'A'$q$), 0,
  'R-01 tenant B: UPDATE of A''s rows touches 0 rows');
select is(pg_temp.affected($q$delete from tap_app.docs where tenant = 'A'$q$), 0,
  'R-01/R-09 tenant B: DELETE of A''s rows touches 0 rows');
reset role;

-- Admin of tenant A: may delete, in its own tenant only.
select pg_temp.act_as('pgw_app_user', '00000000-0000-4000-8000-0000000000a2', 'A', '{docs-admin}');
select is((select auth.has_permission('docs.delete')), true, 'R-01 admin: has_permission true');
select results_eq('select id from tap_app.docs order by id', array[1, 2, 10], 'R-01 admin of A: SELECT sees A''s rows only');
select is(pg_temp.affected($q$delete from tap_app.docs where id = 10$q$), 1,
  'R-01 admin of A: DELETE own tenant''s row allowed');
select is(pg_temp.affected($q$delete from tap_app.docs where id = 3$q$), 0,
  'R-01 admin of A: DELETE of B''s row touches 0 rows');
select throws_ok($$insert into tap_app.docs values (13, 'B', 'forged')$$, '42501', null, 'R-01 admin of A: INSERT into B denied');
reset role;

-- R-20: claims a user can edit never authorise: a context claiming admin in user metadata only.
select pg_temp.act_as('pgw_app_user', '00000000-0000-4000-8000-0000000000a1', 'A', '{member}');
select is((select auth.has_permission('docs.delete')), false, 'R-20: roles come from the MAC''d context only');
reset role;

-- R-15: a forged context is worth nothing.
set local role pgw_app_user;
select set_config('pgwarden.context', replace(current_setting('pgwarden.context'), '"A"', '"B"'), true);
select is((select auth.tenant_id()), null, 'R-15: an edited context verifies as NULL');
select is((select count(*)::int from tap_app.docs), 0, 'R-15: and sees no rows');
reset role;

-- R-04: the table owner is subject to the policies too (FORCE ROW LEVEL SECURITY).
create role tap_owner nologin;
alter table tap_app.docs owner to tap_owner;
grant usage on schema auth, tap_app to tap_owner;
set local role tap_owner;
select is((select count(*)::int from tap_app.docs), 0, 'R-04: the owner without a context sees 0 rows');
reset role;
select ok((select relforcerowsecurity from pg_class where oid = 'tap_app.docs'::regclass), 'R-04: FORCE is on');

-- R-12: no table-wide privileges that bypass RLS.
select ok(not has_table_privilege('pgw_app_user', 'tap_app.docs', 'truncate'), 'R-12: no TRUNCATE for app_user');
select ok(not has_table_privilege('pgw_app_user', 'tap_app.docs', 'references'), 'R-12: no REFERENCES for app_user');
select ok(not has_table_privilege('pgw_app_user', 'tap_app.docs', 'trigger'), 'R-12: no TRIGGER for app_user');

select * from finish();
