-- pgwarden:privileged
--
-- audit 0004: DDL and privilege changes as security events in logs.notification_log.
--
-- Event triggers on ddl_command_end and sql_drop report GRANT and REVOKE, ALTER DEFAULT
-- PRIVILEGES, policies, row-level security switched on or off, SECURITY DEFINER functions,
-- disabled and dropped triggers (pgwarden's audit triggers above all), and any DDL on pgwarden's
-- own schemas. The events are written in the transaction of the DDL: a rolled-back change
-- leaves none, and if an event cannot be written the DDL fails.
--
-- Privileged (runs as the installing role) because only a superuser may create event triggers.
-- Everything else here is created as the owner role. Without a superuser the triggers are
-- skipped, a warning event says so, and a superuser can add them later with
-- `select audit.ddl_capture_enable()`. PostgreSQL does not fire event triggers for roles,
-- databases, tablespaces, ALTER SYSTEM, or for creating, altering or dropping event triggers:
-- those come from the server log or pgaudit (docs/audit.md).
--
-- How the pieces fit:
--   * Each event fires two triggers, in name order: `…_0_actor` (security invoker) notes the
--     role the DDL runs as, which a security definer function cannot see; `…_1_record`
--     (security definer, owned by the owner role) writes the events, so a role with no
--     privilege on pgwarden's schemas still gets its DDL recorded. Both are ENABLE ALWAYS, so
--     `session_replication_role = replica` does not switch them off.
--   * pg_ddl_command is opaque from SQL, so ALTER TABLE subcommands cannot be read. RLS and
--     trigger changes are found by comparing pg_class and pg_trigger with the last state pgwarden
--     saw (audit.ddl_relation_state, owner-only); GRANTs on pgwarden's objects by comparing
--     their ACLs with audit.ddl_acl_baseline. No setting a user can change is consulted.
--   * Dropping a pgw_audit_* trigger is judged at commit (a deferred constraint trigger on
--     audit.ddl_pending_checks): audit.disable() unregisters the table in the same transaction
--     and logs audit.table_disabled; a drop that leaves a registered table without its triggers
--     is critical.
--   * The installer's own DDL is not reported (its summary is the pgwarden.installed event):
--     DDL is quiet while this session holds pgwarden's install lock and its login is a
--     superuser or a member of the owner role. DDL that pgwarden's own security definer
--     functions run as the owner role (audit.ensure_partitions) is quiet too. An ordinary user
--     can take the advisory lock, but is neither; no GUC is consulted.

set local role {{role:owner}};

-- Tables and partitions whose RLS flags or trigger states differ from the defaults (RLS off,
-- every trigger enabled), as pgwarden last saw them. Rows only for non-default state.
create table audit.ddl_relation_state (
  table_oid  oid   primary key,
  state      jsonb not null
);
comment on table audit.ddl_relation_state is
  'pgwarden: last seen RLS flags and non-default trigger states per table, for DDL change detection';

-- The ACL of every object in pgwarden's schemas, as pgwarden last saw it.
create table audit.ddl_acl_baseline (
  object  text primary key,
  acl     text not null
);
comment on table audit.ddl_acl_baseline is
  'pgwarden: last seen ACLs of pgwarden''s objects, to detect GRANT and REVOKE on them';

-- Tables whose pgw_audit_* triggers were dropped in the running transaction; checked at commit.
create table audit.ddl_pending_checks (
  table_oid  oid   primary key,
  details    jsonb not null
);
comment on table audit.ddl_pending_checks is
  'pgwarden: audit triggers dropped in an open transaction, checked at its commit (always empty after)';

create function audit._ddl_is_protected(p_schema text) returns boolean
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(p_schema = any ('{audit,ledger,logs,auth,pgwarden}'::text[]), false)
$$;
revoke all on function audit._ddl_is_protected(text) from public;

-- The schema an object of pg_event_trigger_ddl_commands() lives in: the function leaves it NULL
-- for schemas themselves and for objects named through their table (triggers, policies, rules).
create function audit._ddl_object_schema(p_classid oid, p_objid oid, p_schema text) returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when p_schema is not null then p_schema
    when p_classid = 'pg_catalog.pg_namespace'::regclass then
      (select n.nspname::text from pg_catalog.pg_namespace n where n.oid = p_objid)
    when p_classid = 'pg_catalog.pg_trigger'::regclass then
      (select n.nspname::text from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace where t.oid = p_objid)
    when p_classid = 'pg_catalog.pg_policy'::regclass then
      (select n.nspname::text from pg_catalog.pg_policy p join pg_catalog.pg_class c on c.oid = p.polrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace where p.oid = p_objid)
    when p_classid = 'pg_catalog.pg_rewrite'::regclass then
      (select n.nspname::text from pg_catalog.pg_rewrite w join pg_catalog.pg_class c on c.oid = w.ev_class
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace where w.oid = p_objid)
  end
$$;
revoke all on function audit._ddl_object_schema(oid, oid, text) from public;

-- A table's RLS flags and its triggers that are not plainly enabled (tgenabled 'O'):
-- 'D' disabled, 'R' replica only (so off in normal sessions), 'A' always.
create function audit._ddl_relation_state(p_table oid) returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.jsonb_build_object('row_security', c.relrowsecurity, 'force_row_security', c.relforcerowsecurity,
           'triggers', coalesce((select pg_catalog.jsonb_object_agg(t.tgname, t.tgenabled::text)
                                   from pg_catalog.pg_trigger t where t.tgrelid = c.oid and t.tgenabled <> 'O'), '{}'::jsonb))
    from pg_catalog.pg_class c where c.oid = p_table
$$;
revoke all on function audit._ddl_relation_state(oid) from public;

-- The ACL of each object in pgwarden's schemas: the schemas, relations, functions, and the
-- columns and types that carry their own.
create function audit._ddl_protected_acls() returns table (object text, acl text)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select 'schema ' || pg_catalog.quote_ident(n.nspname), coalesce(n.nspacl::text, 'default')
    from pg_catalog.pg_namespace n where audit._ddl_is_protected(n.nspname)
  union all
  select 'relation ' || c.oid::regclass::text, coalesce(c.relacl::text, 'default')
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where audit._ddl_is_protected(n.nspname) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  union all
  select 'column ' || c.oid::regclass::text || '.' || pg_catalog.quote_ident(a.attname), a.attacl::text
    from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where audit._ddl_is_protected(n.nspname) and a.attacl is not null and not a.attisdropped
  union all
  select 'function ' || p.oid::regprocedure::text, coalesce(p.proacl::text, 'default')
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where audit._ddl_is_protected(n.nspname)
  union all
  select 'type ' || t.oid::regtype::text, t.typacl::text
    from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
   where audit._ddl_is_protected(n.nspname) and t.typacl is not null
$$;
revoke all on function audit._ddl_protected_acls() from public;

-- Security invoker on purpose: it runs as the role executing the DDL and notes that role for
-- the security definer trigger that fires right after it (event triggers of one event fire in
-- name order, with no user code in between). Event triggers need no EXECUTE privilege.
create function audit._ddl_actor() returns event_trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.set_config('pgwarden.ddl_actor', current_user::text, true);
end
$$;
revoke all on function audit._ddl_actor() from public;

-- Who ran the DDL, and whether it is pgwarden's own: {session_user, current_user, query,
-- quiet}. quiet is 'installer' (this session holds the install lock and its login is a
-- superuser or a member of the owner role), 'pgwarden' (the DDL ran as the owner role inside
-- one of pgwarden's security definer functions, not through SET ROLE), or null. Called only by
-- the security definer functions below, so current_user here is the owner role.
create function audit._ddl_origin(p_actor_trigger text) returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := current_user::text;
  v_actor text := nullif(pg_catalog.current_setting('pgwarden.ddl_actor', true), '');
  v_fired boolean;
  v_key bigint := pg_catalog.hashtextextended('pgwarden.install', 0);
  v_quiet text;
begin
  perform pg_catalog.set_config('pgwarden.ddl_actor', '', true);
  -- The noted role counts only if the actor trigger really ran for this event.
  select case t.evtenabled
           when 'A' then true
           when 'O' then pg_catalog.current_setting('session_replication_role') <> 'replica'
           when 'R' then pg_catalog.current_setting('session_replication_role') = 'replica'
           else false
         end
    into v_fired
    from pg_catalog.pg_event_trigger t
   where t.evtname = p_actor_trigger and t.evtfoid = 'audit._ddl_actor()'::pg_catalog.regprocedure;
  if not coalesce(v_fired, false) then
    v_actor := null;
  end if;
  if pg_catalog.pg_has_role(session_user, v_owner, 'MEMBER')
     and exists (select 1 from pg_catalog.pg_locks l
                  where l.locktype = 'advisory' and l.pid = pg_catalog.pg_backend_pid() and l.granted
                    and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
                    and l.classid = ((v_key >> 32) & 4294967295)::oid and l.objid = (v_key & 4294967295)::oid
                    and l.objsubid = 1) then
    v_quiet := 'installer';
  elsif v_actor = v_owner and session_user::text <> v_owner
        and pg_catalog.current_setting('role') <> v_owner then
    v_quiet := 'pgwarden';
  end if;
  return pg_catalog.jsonb_build_object('session_user', session_user::text, 'current_user', v_actor,
    'query', pg_catalog.left(pg_catalog.current_query(), 1000), 'quiet', v_quiet);
end
$$;
revoke all on function audit._ddl_origin(text) from public;

-- Compares the RLS flags and trigger states of the given tables (and their partitions and
-- children: DISABLE TRIGGER recurses to partitions) with the last state seen, records the
-- new state, and unless p_quiet writes ddl.rls, ddl.trigger_disabled and ddl.trigger_enabled.
create function audit._ddl_relations_changed(p_tables oid[], p_base jsonb, p_quiet boolean) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_default constant jsonb := '{"row_security": false, "force_row_security": false, "triggers": {}}';
  v_table oid;
  v_before jsonb;
  v_after jsonb;
  v_name text;
  v_schema text;
  v_details jsonb;
  v_off text[];
  v_on text[];
begin
  for v_table in
    with recursive tree(oid) as (
      select c.oid from pg_catalog.pg_class c where c.oid = any (p_tables) and c.relkind in ('r', 'p', 'f')
      union
      select i.inhrelid from pg_catalog.pg_inherits i join tree on i.inhparent = tree.oid
    )
    select tree.oid from tree
  loop
    v_after := audit._ddl_relation_state(v_table);
    v_before := coalesce((select s.state from audit.ddl_relation_state s where s.table_oid = v_table), v_default);
    continue when v_after is null or v_after = v_before;
    if v_after = v_default then
      delete from audit.ddl_relation_state where table_oid = v_table;
    else
      insert into audit.ddl_relation_state (table_oid, state) values (v_table, v_after)
        on conflict (table_oid) do update set state = excluded.state;
    end if;
    continue when p_quiet;

    select c.oid::regclass::text, n.nspname::text into v_name, v_schema
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = v_table;
    v_details := p_base || pg_catalog.jsonb_build_object('object_type', 'table', 'object_identity', v_name, 'schema', v_schema);
    if v_before -> 'row_security' <> v_after -> 'row_security'
       or v_before -> 'force_row_security' <> v_after -> 'force_row_security' then
      perform logs.log_event('ddl.rls',
        case when ((v_before ->> 'row_security')::boolean and not (v_after ->> 'row_security')::boolean)
               or ((v_before ->> 'force_row_security')::boolean and not (v_after ->> 'force_row_security')::boolean)
             then 'warning' else 'notice' end,
        null, v_name, null,
        v_details || pg_catalog.jsonb_build_object(
          'row_security', pg_catalog.jsonb_build_object('before', v_before -> 'row_security', 'after', v_after -> 'row_security'),
          'force_row_security', pg_catalog.jsonb_build_object('before', v_before -> 'force_row_security',
                                                              'after', v_after -> 'force_row_security')));
    end if;

    select pg_catalog.array_agg(t.k order by t.k) into v_off
      from pg_catalog.jsonb_each_text(v_after -> 'triggers') t(k, v)
     where t.v in ('D', 'R') and coalesce(v_before -> 'triggers' ->> t.k, 'O') not in ('D', 'R');
    select pg_catalog.array_agg(t.k order by t.k) into v_on
      from pg_catalog.jsonb_each_text(v_before -> 'triggers') t(k, v)
     where t.v in ('D', 'R') and coalesce(v_after -> 'triggers' ->> t.k, 'O') not in ('D', 'R')
       and exists (select 1 from pg_catalog.pg_trigger g where g.tgrelid = v_table and g.tgname = t.k);
    if v_off is not null then
      perform logs.log_event('ddl.trigger_disabled',
        case when audit._ddl_is_protected(v_schema) or exists (select 1 from pg_catalog.unnest(v_off) k where k like 'pgw\_audit\_%')
             then 'critical' else 'warning' end,
        null, v_name, null,
        v_details || pg_catalog.jsonb_build_object('triggers', v_off,
          'states', (select pg_catalog.jsonb_object_agg(k, v_after -> 'triggers' ->> k) from pg_catalog.unnest(v_off) k)));
    end if;
    if v_on is not null then
      perform logs.log_event('ddl.trigger_enabled', 'notice', null, v_name, null,
        v_details || pg_catalog.jsonb_build_object('triggers', v_on));
    end if;
  end loop;
end
$$;
revoke all on function audit._ddl_relations_changed(oid[], jsonb, boolean) from public;

-- Compares the ACLs of pgwarden's objects with the baseline and records the new ones; with
-- p_report, a difference is a critical ddl.protected_object event listing the changed ACLs
-- (a GRANT names no object pg_event_trigger_ddl_commands() can show).
create function audit._ddl_acls_changed(p_base jsonb, p_report boolean) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changes jsonb;
begin
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('object', coalesce(c.object, b.object),
                                                            'before', b.acl, 'after', c.acl)
                              order by coalesce(c.object, b.object))
    into v_changes
    from audit._ddl_protected_acls() c
    full join audit.ddl_acl_baseline b on b.object = c.object
   where c.acl is distinct from b.acl;
  if v_changes is null then
    return;
  end if;
  delete from audit.ddl_acl_baseline b
   using pg_catalog.jsonb_array_elements(v_changes) x where b.object = x ->> 'object';
  insert into audit.ddl_acl_baseline (object, acl)
  select x ->> 'object', x ->> 'after' from pg_catalog.jsonb_array_elements(v_changes) x where x ->> 'after' is not null;
  if p_report then
    perform logs.log_event('ddl.protected_object', 'critical', null, null, null,
      p_base || pg_catalog.jsonb_build_object('object_type', 'acl', 'changed_acls', v_changes));
  end if;
end
$$;
revoke all on function audit._ddl_acls_changed(jsonb, boolean) from public;

-- security definer: DDL by any role (with no privilege on pgwarden's schemas) must be recorded
-- in logs.notification_log and compared with the owner-only state tables, so this runs as the
-- owner role. It reads only what the server reports about the command.
create function audit._ddl_command_end() returns event_trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_origin jsonb := audit._ddl_origin('pgwarden_ddl_end_0_actor');
  v_quiet boolean := v_origin ->> 'quiet' is not null;
  v_base jsonb := (v_origin - 'quiet') || pg_catalog.jsonb_build_object('command_tag', tg_tag);
  v_details jsonb;
  v_schema text;
  v_tables oid[] := '{}';
  v_grant boolean := false;
  v_protected boolean := false;
  v_fn record;
  r record;
begin
  for r in select * from pg_catalog.pg_event_trigger_ddl_commands() loop
    v_schema := audit._ddl_object_schema(r.classid, r.objid, r.schema_name);
    v_details := (v_origin - 'quiet') || pg_catalog.jsonb_build_object('command_tag', r.command_tag,
      'object_type', r.object_type, 'object_identity', r.object_identity, 'schema', v_schema, 'in_extension', r.in_extension);
    if r.classid = 'pg_catalog.pg_class'::regclass then
      v_tables := v_tables || r.objid;
    end if;
    v_grant := v_grant or r.command_tag in ('GRANT', 'REVOKE');
    v_protected := v_protected or audit._ddl_is_protected(v_schema);
    continue when v_quiet;

    if r.command_tag in ('GRANT', 'REVOKE') then
      perform logs.log_event(case r.command_tag when 'GRANT' then 'ddl.grant' else 'ddl.revoke' end, 'notice',
        null, null, null, v_details);
    elsif r.command_tag = 'ALTER DEFAULT PRIVILEGES' then
      perform logs.log_event('ddl.default_privileges', 'warning', null, null, null, v_details);
    elsif r.classid = 'pg_catalog.pg_policy'::regclass then
      perform logs.log_event('ddl.policy', 'notice', null, r.object_identity, null,
        v_details || pg_catalog.jsonb_build_object('action', case when r.command_tag like 'CREATE%' then 'create' else 'alter' end));
    elsif r.classid = 'pg_catalog.pg_proc'::regclass then
      select p.prosecdef, pg_catalog.pg_get_userbyid(p.proowner) as owner,
             exists (select 1 from pg_catalog.unnest(p.proconfig) c where c like 'search\_path=%') as search_path_set
        into v_fn from pg_catalog.pg_proc p where p.oid = r.objid;
      if v_fn.prosecdef then
        perform logs.log_event('ddl.security_definer', 'warning', null, r.object_identity, null,
          v_details || pg_catalog.jsonb_build_object('owner', v_fn.owner, 'search_path_set', v_fn.search_path_set));
      end if;
    elsif r.classid = 'pg_catalog.pg_trigger'::regclass then
      -- A pgw_audit_* trigger re-created (CREATE OR REPLACE) to run something else.
      if exists (select 1 from pg_catalog.pg_trigger t where t.oid = r.objid and t.tgname like 'pgw\_audit\_%'
                    and t.tgfoid not in ('audit._capture()'::pg_catalog.regprocedure,
                                         'audit._wal_context()'::pg_catalog.regprocedure)) then
        perform logs.log_event('ddl.trigger_replaced', 'critical', null, r.object_identity, null, v_details);
      end if;
    end if;
    if audit._ddl_is_protected(v_schema) then
      perform logs.log_event('ddl.protected_object', 'critical', null, r.object_identity, null, v_details);
    end if;
  end loop;

  perform audit._ddl_relations_changed(v_tables, v_base, v_quiet);
  -- A drop has no command rows; its objects leave the baseline here.
  if v_grant or v_protected or tg_tag like 'DROP %' then
    perform audit._ddl_acls_changed(v_base, v_grant and not v_quiet);
  end if;
end
$$;
revoke all on function audit._ddl_command_end() from public;

-- security definer: as audit._ddl_command_end; also queues dropped audit triggers for the
-- commit-time check in the owner-only audit.ddl_pending_checks.
create function audit._ddl_dropped() returns event_trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_origin jsonb := audit._ddl_origin('pgwarden_ddl_drop_0_actor');
  v_quiet text := v_origin ->> 'quiet';
  v_base jsonb := (v_origin - 'quiet') || pg_catalog.jsonb_build_object('command_tag', tg_tag);
  v_details jsonb;
  v_schema text;
  v_archived boolean;
  v_table oid;
  v_reported boolean;
  v_relations jsonb;
  r record;
begin
  -- Relations dropped by this command, as address_names, to fold their parts into them.
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(d.address_names)), '[]'::jsonb) into v_relations
    from pg_catalog.pg_event_trigger_dropped_objects() d where d.classid = 'pg_catalog.pg_class'::regclass;
  for r in select * from pg_catalog.pg_event_trigger_dropped_objects() loop
    if r.classid = 'pg_catalog.pg_class'::regclass then
      delete from audit.ddl_relation_state where table_oid = r.objid;
    end if;
    continue when v_quiet = 'installer';
    v_schema := case when r.object_type = 'schema' then r.object_identity else r.schema_name end;
    v_details := v_base || pg_catalog.jsonb_build_object('object_type', r.object_type, 'object_identity', r.object_identity,
      'schema', v_schema, 'original', r.original, 'normal', r.normal, 'is_temporary', r.is_temporary);

    -- Reported: what was named (original) and what a cascade reached (normal), but not the
    -- parts of a table dropped with it (its type, indexes, constraints, triggers, policies).
    v_reported := r.original
      or (r.normal and not (pg_catalog.cardinality(r.address_names) = 3
                            and v_relations @> pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(r.address_names[1:2]))));
    if audit._ddl_is_protected(v_schema) and v_reported then
      v_archived := false;
      if r.object_type = 'table' and v_schema = 'audit' and pg_catalog.to_regclass('audit.archived_partitions') is not null then
        execute 'select exists (select 1 from audit.archived_partitions where partition_name = $1)'
          into v_archived using r.object_identity;
      end if;
      if v_archived then
        perform logs.log_event('audit.partition_dropped', 'notice', null, r.object_identity, null, v_details);
      elsif v_quiet is null then
        perform logs.log_event('ddl.protected_object', 'critical', null, r.object_identity, null, v_details);
      end if;
    end if;
    continue when v_quiet is not null;

    if r.object_type = 'policy' and v_reported then
      perform logs.log_event('ddl.policy', 'warning', null, r.object_identity, null,
        v_details || pg_catalog.jsonb_build_object('action', 'drop'));
    elsif r.object_type = 'table' and exists (select 1 from audit.audited_tables a where a.table_oid = r.objid and a.enabled) then
      perform logs.log_event('ddl.audited_table_dropped', 'warning', null, r.object_identity, null, v_details);
    elsif r.object_type = 'trigger' and r.original and r.address_names[3] like 'pgw\_audit\_%' then
      select c.oid into v_table
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = r.address_names[1] and c.relname = r.address_names[2];
      if v_table is not null and exists (select 1 from audit.audited_tables a where a.table_oid = v_table and a.enabled) then
        insert into audit.ddl_pending_checks as p (table_oid, details)
        values (v_table, v_details || pg_catalog.jsonb_build_object('object_type', 'table', 'object_identity', v_table::regclass::text,
                                                                   'triggers', pg_catalog.jsonb_build_array(r.address_names[3])))
        on conflict (table_oid) do update
          set details = pg_catalog.jsonb_set(p.details, '{triggers}', (p.details -> 'triggers') || (excluded.details -> 'triggers'));
      end if;
    end if;
  end loop;
end
$$;
revoke all on function audit._ddl_dropped() from public;

-- security definer: runs at commit as the owner, to read audit.audited_tables, empty the
-- owner-only queue and write the event. A table still registered for audit whose four audit
-- triggers (calling audit._capture(), or audit._wal_context() for WAL capture) are not all there lost them outside audit.disable().
create function audit._ddl_check_pending() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_missing text[];
  v_fn regprocedure;
begin
  delete from audit.ddl_pending_checks where table_oid = new.table_oid;
  select case a.capture when 'wal' then 'audit._wal_context()'::pg_catalog.regprocedure
                        else 'audit._capture()'::pg_catalog.regprocedure end
    into v_fn from audit.audited_tables a where a.table_oid = new.table_oid and a.enabled;
  if v_fn is not null and exists (select 1 from pg_catalog.pg_class c where c.oid = new.table_oid) then
    select pg_catalog.array_agg(x order by x) into v_missing
      from pg_catalog.unnest('{pgw_audit_insert,pgw_audit_update,pgw_audit_delete,pgw_audit_truncate}'::text[]) x
     where not exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = new.table_oid and t.tgname = x
                          and t.tgfoid = v_fn);
    if v_missing is not null then
      perform logs.log_event('ddl.trigger_dropped', 'critical', null, new.details ->> 'object_identity', null,
        new.details || pg_catalog.jsonb_build_object('missing_triggers', v_missing));
    end if;
  end if;
  return null;
end
$$;
revoke all on function audit._ddl_check_pending() from public;

create constraint trigger ddl_pending_check after insert on audit.ddl_pending_checks
  deferrable initially deferred for each row execute function audit._ddl_check_pending();
alter table audit.ddl_pending_checks enable always trigger ddl_pending_check;

-- Security invoker: creating event triggers needs a superuser, and the triggers belong to the
-- one who runs this. Creates or repairs the four event triggers (ENABLE ALWAYS) and takes a fresh
-- baseline of RLS flags, trigger states and pgwarden's ACLs: changes made while capture was off
-- are not reported. The install calls it directly (its event is pgwarden.installed).
create function audit._ddl_capture_setup() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  t record;
begin
  if not coalesce((select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user), false) then
    raise exception using errcode = '42501', message = 'capturing DDL needs event triggers, which only a superuser can create',
      hint = 'run select audit.ddl_capture_enable() as a superuser';
  end if;
  for t in
    select * from (values
      ('pgwarden_ddl_drop_0_actor', 'sql_drop', 'audit._ddl_actor()'),
      ('pgwarden_ddl_drop_1_record', 'sql_drop', 'audit._ddl_dropped()'),
      ('pgwarden_ddl_end_0_actor', 'ddl_command_end', 'audit._ddl_actor()'),
      ('pgwarden_ddl_end_1_record', 'ddl_command_end', 'audit._ddl_command_end()')
    ) as x(name, event, fn)
  loop
    if exists (select 1 from pg_catalog.pg_event_trigger e where e.evtname = t.name
                  and (e.evtevent <> t.event or e.evtfoid <> t.fn::pg_catalog.regprocedure or e.evttags is not null)) then
      execute pg_catalog.format('drop event trigger %I', t.name);
    end if;
    if not exists (select 1 from pg_catalog.pg_event_trigger e where e.evtname = t.name) then
      execute pg_catalog.format('create event trigger %I on %I execute function %s', t.name, t.event, t.fn);
    end if;
    execute pg_catalog.format('alter event trigger %I enable always', t.name);
  end loop;
  -- Only when changed: this ALTER TABLE is itself reported once the triggers exist.
  if exists (select 1 from pg_catalog.pg_trigger g where g.tgrelid = 'audit.ddl_pending_checks'::pg_catalog.regclass
                and g.tgname = 'ddl_pending_check' and g.tgenabled <> 'A') then
    alter table audit.ddl_pending_checks enable always trigger ddl_pending_check;
  end if;

  delete from audit.ddl_relation_state;
  insert into audit.ddl_relation_state (table_oid, state)
  select c.oid, audit._ddl_relation_state(c.oid) from pg_catalog.pg_class c
   where c.relkind in ('r', 'p', 'f')
     and (c.relrowsecurity or c.relforcerowsecurity
          or exists (select 1 from pg_catalog.pg_trigger g where g.tgrelid = c.oid and g.tgenabled <> 'O'));
  delete from audit.ddl_acl_baseline;
  insert into audit.ddl_acl_baseline (object, acl) select a.object, a.acl from audit._ddl_protected_acls() a;
end
$$;
revoke all on function audit._ddl_capture_setup() from public;

-- Whether DDL capture is on: each event trigger (and the commit-time check) present, calling the
-- right function, and enabled ALWAYS. ALTER/DROP EVENT TRIGGER fire no event trigger, so the
-- monitor polls this rather than waiting for an event.
create function audit.ddl_capture_status()
returns table (trigger_name text, event text, enabled text, ok boolean)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select x.name, x.event,
         case e.evtenabled when 'A' then 'always' when 'O' then 'origin' when 'R' then 'replica' when 'D' then 'disabled'
                           else 'missing' end,
         coalesce(e.evtenabled = 'A' and e.evtevent = x.event and n.nspname = 'audit' and p.proname = x.fn, false)
    from (values ('pgwarden_ddl_drop_0_actor', 'sql_drop', '_ddl_actor'),
                 ('pgwarden_ddl_drop_1_record', 'sql_drop', '_ddl_dropped'),
                 ('pgwarden_ddl_end_0_actor', 'ddl_command_end', '_ddl_actor'),
                 ('pgwarden_ddl_end_1_record', 'ddl_command_end', '_ddl_command_end')) as x(name, event, fn)
    left join pg_catalog.pg_event_trigger e on e.evtname = x.name
    left join pg_catalog.pg_proc p on p.oid = e.evtfoid
    left join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  union all
  select 'ddl_pending_check', 'commit',
         case t.tgenabled when 'A' then 'always' when 'O' then 'origin' when 'R' then 'replica' when 'D' then 'disabled'
                          else 'missing' end,
         coalesce(t.tgenabled = 'A', false)
    from (select 1) one
    left join pg_catalog.pg_trigger t
      on t.tgrelid = 'audit.ddl_pending_checks'::pg_catalog.regclass and t.tgname = 'ddl_pending_check'
  order by 1
$$;
revoke all on function audit.ddl_capture_status() from public;
comment on function audit.ddl_capture_status() is
  'pgwarden: the DDL event triggers and whether each is present, right and enabled ALWAYS (ok)';

-- Security invoker, for the same reason: audit._ddl_capture_setup(), then ddl.capture_enabled.
create function audit.ddl_capture_enable() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform audit._ddl_capture_setup();
  perform logs.log_event('ddl.capture_enabled', 'notice', null, null, null,
    pg_catalog.jsonb_build_object('event_triggers', (select pg_catalog.jsonb_agg(s.trigger_name order by s.trigger_name)
                                                        from audit.ddl_capture_status() s where s.ok)));
end
$$;
revoke all on function audit.ddl_capture_enable() from public;
comment on function audit.ddl_capture_enable() is
  'pgwarden: create or repair the DDL event triggers (superuser only); changes made while they were off are not reported';

-- Grants: the auditor and the security admin may check that capture is on.
grant execute on function audit.ddl_capture_status() to {{role:auditor}}, {{role:security_admin}};

-- The event triggers, as the installing role. Without a superuser: a warning event, no triggers.
reset role;
do $capture$
begin
  if coalesce((select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user), false) then
    perform audit._ddl_capture_setup();
  else
    perform pg_catalog.set_config('role', {{role_literal:owner}}, true);
    perform logs.log_event('ddl.capture_unavailable', 'warning', null, null, null,
      pg_catalog.jsonb_build_object(
        'reason', 'the installing role is not a superuser, and only a superuser can create event triggers',
        'hint', 'DDL and privilege changes are not recorded in the database; a superuser can run select audit.ddl_capture_enable(); until then use the server log or pgaudit'));
  end if;
end
$capture$;
