-- audit 0006: WAL capture. A table enabled with capture 'wal' costs its writers almost nothing:
-- its changes are decoded from the write-ahead log after commit (logical decoding, the pgoutput
-- plugin, publication pgwarden_audit) by pgwarden's capture service, and written to
-- audit.row_changes as the capture trigger would have written them.
--
-- What the log does not hold is who made a change. A BEFORE statement trigger, whose WHEN test
-- is false for every statement after the first of a transaction (unless the role or the request
-- context changes), writes one row to audit.wal_context: db role, session user, client address,
-- application name and the verified request context. That table is in its own publication, so
-- the row arrives in the decoded stream just before the changes it describes. Only the owner
-- role can insert there (the trigger is security definer): a user cannot forge another actor. A
-- change decoded without a context row (session_replication_role = replica, which needs a
-- superuser, or a statement on a partition of a partitioned audited table) is still recorded,
-- with the context columns NULL, and reported as audit.wal_context_missing.
--
-- Set up by pgwarden (setupWalCapture / `pgwarden audit capture setup`): wal_level = logical,
-- the publications, and a logical replication slot, which keeps the log until the service has
-- applied it. audit.wal_state holds the slot and the last applied position, moved forward in the
-- same transaction as the rows it applied: each change is recorded exactly once.

create table audit.wal_state (
  slot_name    name        primary key,
  database_oid oid         not null,
  applied_lsn  pg_lsn      not null default '0/0',
  applied_at   timestamptz,
  -- What audit._wal_check() last found wrong (reported once, when it appears).
  problems     jsonb       not null default '{}',
  created_at   timestamptz not null default pg_catalog.clock_timestamp()
);
alter table audit.wal_state owner to {{role:owner}};
comment on table audit.wal_state is
  'pgwarden: the WAL capture slot of this database and the log position applied to audit.row_changes';

-- A carrier for the capture context: read from the log, never from the table, so the capture
-- service empties it as it goes.
create table audit.wal_context (
  txid               xid8 not null default pg_catalog.pg_current_xact_id(),
  db_role            text not null,
  session_user_name  text not null default session_user,
  client_addr        inet default pg_catalog.inet_client_addr(),
  application_name   text default pg_catalog.current_setting('application_name', true),
  actor_sub          text,
  actor_tenant       text
);
alter table audit.wal_context owner to {{role:owner}};
comment on table audit.wal_context is
  'pgwarden: who made the WAL-captured changes of a transaction (read from the log; emptied as it is applied)';

-- security definer: writes audit.wal_context, which no other role may. Fires BEFORE each
-- statement whose WHEN test (see audit._wal_attach) finds no context row yet for this
-- transaction, role and request context; the setting it leaves is that test's key.
create function audit._wal_context() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user::text);
  v_ctx jsonb := auth._context(v_role);
begin
  insert into audit.wal_context (db_role, actor_sub, actor_tenant) values (v_role, v_ctx->>'sub', v_ctx->>'tenant');
  perform pg_catalog.set_config('pgwarden.audit_wal',
    pg_catalog.concat(pg_catalog.pg_current_xact_id(), '/', pg_catalog.current_setting('role'), '/',
                      pg_catalog.current_setting('pgwarden.context_mac', true)), true);
  return null;
end
$$;
alter function audit._wal_context() owner to {{role:owner}};
revoke all on function audit._wal_context() from public;

-- Whether a table is in the WAL capture publication.
create function audit._wal_published(p_table regclass) returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select exists (select 1 from pg_catalog.pg_publication_rel r join pg_catalog.pg_publication p on p.oid = r.prpubid
                  where p.pubname = 'pgwarden_audit' and r.prrelid = p_table)
$$;
alter function audit._wal_published(regclass) owner to {{role:owner}};

-- Whether tables can be enabled with capture 'wal' here: wal_level = logical, both publications,
-- and this database's slot, still holding the log.
create function audit.wal_capture_ready() returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.current_setting('wal_level') = 'logical'
     and (select pg_catalog.count(*) from pg_catalog.pg_publication
           where pubname in ('pgwarden_audit', 'pgwarden_audit_context')) = 2
     and exists (select 1 from audit.wal_state w
                   join pg_catalog.pg_replication_slots s on s.slot_name = w.slot_name
                  where w.database_oid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
                    and s.database = pg_catalog.current_database() and s.plugin = 'pgoutput'
                    and s.wal_status is distinct from 'lost')
$$;
alter function audit.wal_capture_ready() owner to {{role:owner}};
comment on function audit.wal_capture_ready() is
  'pgwarden: true when tables can be audited by WAL capture (wal_level = logical, publications and slot in place)';

-- Security invoker, called by audit.enable(): REPLICA IDENTITY and the publication need the
-- caller to own the table (and the publication). FULL puts every old value in the log, which
-- old_data needs; partitions get it too, as their changes are decoded with their own identity.
create function audit._wal_attach(p_table regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_part regclass;
  v_when constant text := 'when (pg_catalog.current_setting(''pgwarden.audit_wal'', true) is distinct from '
    'pg_catalog.concat(pg_catalog.pg_current_xact_id(), ''/'', pg_catalog.current_setting(''role''), ''/'', '
    'pg_catalog.current_setting(''pgwarden.context_mac'', true)))';
begin
  -- pg_partition_tree() lists a partitioned table and its partitions; a plain table only itself.
  for v_part in select p_table union select t.relid from pg_catalog.pg_partition_tree(p_table) t loop
    execute pg_catalog.format('alter table %s replica identity full', v_part);
  end loop;
  execute pg_catalog.format('alter publication pgwarden_audit add table only %s', p_table);
  execute pg_catalog.format('create trigger pgw_audit_insert before insert on %s for each statement %s'
    ' execute function audit._wal_context()', p_table, v_when);
  execute pg_catalog.format('create trigger pgw_audit_update before update on %s for each statement %s'
    ' execute function audit._wal_context()', p_table, v_when);
  execute pg_catalog.format('create trigger pgw_audit_delete before delete on %s for each statement %s'
    ' execute function audit._wal_context()', p_table, v_when);
  execute pg_catalog.format('create trigger pgw_audit_truncate before truncate on %s for each statement %s'
    ' execute function audit._wal_context()', p_table, v_when);
exception when insufficient_privilege then
  raise exception using errcode = 'PW420', message = pg_catalog.format('cannot set up WAL capture of %s: %s', p_table, sqlerrm),
    hint = 'WAL capture needs the table''s owner, who must also own publication pgwarden_audit (the role that ran pgwarden audit capture setup), or a superuser';
end
$$;
alter function audit._wal_attach(regclass) owner to {{role:owner}};
revoke all on function audit._wal_attach(regclass) from public;

-- security definer: records the slot pgwarden created (pg_create_logical_replication_slot cannot
-- run in a transaction that wrote, so the capture service creates it first). A slot created
-- again for a database that had one means the log between its loss and now was never decoded:
-- changes to WAL-captured tables in that window are missing from the trail (critical).
create function audit._wal_register_slot(p_slot name, p_created boolean) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_old audit.wal_state;
begin
  if not coalesce((select r.rolsuper or r.rolreplication from pg_catalog.pg_roles r where r.rolname = session_user), false) then
    raise exception using errcode = 'PW424', message = 'WAL capture needs a login with the REPLICATION attribute (or a superuser)';
  end if;
  if not exists (select 1 from pg_catalog.pg_replication_slots s where s.slot_name = p_slot
                   and s.database = pg_catalog.current_database() and s.plugin = 'pgoutput' and s.slot_type = 'logical') then
    raise exception using errcode = 'PW424', message = pg_catalog.format('no pgoutput slot %s in this database', p_slot);
  end if;
  select * into v_old from audit.wal_state where slot_name = p_slot;
  if found then
    if p_created then
      perform logs.log_event('audit.wal_slot_recreated', 'critical', null, p_slot, null,
        pg_catalog.jsonb_build_object('slot', p_slot, 'applied_lsn', v_old.applied_lsn::text,
                                      'applied_at', v_old.applied_at, 'tables',
                                      (select pg_catalog.jsonb_agg(a.table_oid::regclass::text) from audit.audited_tables a
                                        where a.capture = 'wal' and a.enabled)));
    end if;
    return;
  end if;
  insert into audit.wal_state (slot_name, database_oid)
  values (p_slot, (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database()));
  perform logs.log_event('audit.wal_capture_setup', 'notice', null, p_slot, null, pg_catalog.jsonb_build_object('slot', p_slot));
end
$$;
alter function audit._wal_register_slot(name, boolean) owner to {{role:owner}};
revoke all on function audit._wal_register_slot(name, boolean) from public;

-- security definer: writes audit.row_changes, audit.wal_state and audit.wal_context, which the
-- capture service's login cannot. Applies the decoded changes of whole transactions that ended
-- after p_after, up to p_to, as the capture trigger would have recorded them (record id,
-- exclude/redact lists, changed columns). p_after must be the position last applied: two
-- services cannot both apply the same changes. Only a login that may read the log itself (the
-- REPLICATION attribute, or a superuser) may call it: what it writes, it could have decoded.
create function audit._wal_apply(
  p_slot name, p_after pg_lsn, p_to pg_lsn,
  p_table_oid oid[], p_schema text[], p_table text[], p_op text[], p_old text[], p_new text[],
  p_source_txid xid8[], p_time timestamptz[], p_role text[], p_session_user text[], p_client_addr inet[],
  p_application text[], p_sub text[], p_tenant text[]
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_applied pg_lsn;
  v_count integer;
  v_missing jsonb;
begin
  if not coalesce((select r.rolsuper or r.rolreplication from pg_catalog.pg_roles r where r.rolname = session_user), false) then
    raise exception using errcode = 'PW424', message = 'applying decoded changes needs a login with the REPLICATION attribute (or a superuser)';
  end if;
  select w.applied_lsn into v_applied from audit.wal_state w where w.slot_name = p_slot for update;
  if not found then
    raise exception using errcode = 'PW424', message = pg_catalog.format('WAL capture slot %s is not registered', p_slot);
  end if;
  if v_applied <> p_after or p_to <= p_after then
    raise exception using errcode = 'PW424',
      message = pg_catalog.format('the capture position moved (applied %s, this batch after %s up to %s): another capture service is running', v_applied, p_after, p_to);
  end if;

  insert into audit.row_changes
    (recorded_at, source_txid, table_oid, schema_name, table_name, op, record_id, old_data, new_data, changed_columns,
     actor_sub, actor_tenant, db_role, session_user_name, client_addr, application_name, capture)
  select x.t, x.xid, x.oid, x.sch, x.tab, x.op,
         case when x.op <> 'TRUNCATE' and c.pk_columns is not null then
           pg_catalog.md5(x.oid::text || ':' || (select pg_catalog.jsonb_object_agg(k, coalesce(j.nj, j.oj)->k)
                                                   from pg_catalog.unnest(c.pk_columns) k)::text)::uuid end,
         case when j.plain then j.oj else audit._shape(j.oj, c.exclude_columns, c.redact_columns) end,
         case when j.plain then j.nj else audit._shape(j.nj, c.exclude_columns, c.redact_columns) end,
         case when x.op = 'UPDATE' then
           (select coalesce(pg_catalog.array_agg(k order by k), '{}')
              from pg_catalog.jsonb_object_keys(coalesce(j.nj, j.oj)) k
             where (j.oj -> k) is distinct from (j.nj -> k) and not k = any (coalesce(c.exclude_columns, '{}'))) end,
         x.sub, x.tenant, x.rol, x.su, x.addr, x.app, 'wal'
    from rows from (pg_catalog.unnest(p_table_oid), pg_catalog.unnest(p_schema), pg_catalog.unnest(p_table),
                    pg_catalog.unnest(p_op), pg_catalog.unnest(p_old), pg_catalog.unnest(p_new),
                    pg_catalog.unnest(p_source_txid), pg_catalog.unnest(p_time), pg_catalog.unnest(p_role),
                    pg_catalog.unnest(p_session_user), pg_catalog.unnest(p_client_addr),
                    pg_catalog.unnest(p_application), pg_catalog.unnest(p_sub), pg_catalog.unnest(p_tenant))
         with ordinality as x(oid, sch, tab, op, old, new, xid, t, rol, su, addr, app, sub, tenant, n)
    -- The lists in force now: a table disabled since keeps its row (enabled = false) for this.
    left join audit.audited_tables c on c.table_oid = x.oid
   cross join lateral (select x.old::jsonb as oj, x.new::jsonb as nj,
                              coalesce(pg_catalog.cardinality(c.exclude_columns), 0) = 0
                              and coalesce(pg_catalog.cardinality(c.redact_columns), 0) = 0 as plain) j
   order by x.n;
  get diagnostics v_count = row_count;

  select pg_catalog.jsonb_build_object('count', pg_catalog.count(*),
           'tables', pg_catalog.jsonb_agg(distinct pg_catalog.format('%I.%I', m.sch, m.tab)),
           'source_txids', (pg_catalog.array_agg(distinct m.xid::text))[1:20])
    into v_missing
    from rows from (pg_catalog.unnest(p_schema), pg_catalog.unnest(p_table), pg_catalog.unnest(p_source_txid),
                    pg_catalog.unnest(p_role)) as m(sch, tab, xid, rol)
   where m.rol is null
  having pg_catalog.count(*) > 0;
  if v_missing is not null then
    perform logs.log_event('audit.wal_context_missing', 'warning', null, null, null, v_missing);
  end if;

  update audit.wal_state set applied_lsn = p_to, applied_at = pg_catalog.clock_timestamp() where slot_name = p_slot;
  delete from audit.wal_context;
  return v_count;
end
$$;
alter function audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                                text[], text[], inet[], text[], text[], text[]) owner to {{role:owner}};
revoke all on function audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                                        text[], text[], inet[], text[], text[], text[]) from public;

-- security definer: reads the owner's state and writes security events. Run by every capture
-- pass: a table enabled for WAL capture whose changes would no longer reach the trail (taken out
-- of the publication, REPLICA IDENTITY changed, its context triggers dropped or disabled) is a
-- critical audit.wal_capture_broken event, once per problem; its repair, a notice. Returns the
-- problems found, keyed by table.
create function audit._wal_check(p_slot name) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now jsonb;
  v_before jsonb;
  k text;
begin
  select coalesce(pg_catalog.jsonb_object_agg(t.name, t.problems), '{}') into v_now
    from (select a.table_oid::regclass::text as name,
                 pg_catalog.to_jsonb(pg_catalog.array_remove(array[
                   case when not audit._wal_published(a.table_oid) then 'not_published' end,
                   case when c.relreplident <> 'f' then 'replica_identity_' || c.relreplident::text end,
                   case when (select pg_catalog.count(*) from pg_catalog.pg_trigger tg
                               where tg.tgrelid = a.table_oid and tg.tgenabled in ('O', 'A')
                                 and tg.tgfoid = 'audit._wal_context()'::pg_catalog.regprocedure
                                 and tg.tgname in ('pgw_audit_insert', 'pgw_audit_update', 'pgw_audit_delete', 'pgw_audit_truncate')) <> 4
                        then 'context_triggers' end], null)) as problems
            from audit.audited_tables a join pg_catalog.pg_class c on c.oid = a.table_oid
           where a.capture = 'wal' and a.enabled) t
   where pg_catalog.jsonb_array_length(t.problems) > 0;
  select w.problems into v_before from audit.wal_state w where w.slot_name = p_slot for update;
  if v_before is null or v_now = v_before then
    return v_now;
  end if;
  for k in select pg_catalog.jsonb_object_keys(v_now) loop
    if (v_before -> k) is distinct from (v_now -> k) then
      perform logs.log_event('audit.wal_capture_broken', 'critical', null, k, null,
        pg_catalog.jsonb_build_object('table', k, 'problems', v_now -> k));
    end if;
  end loop;
  for k in select pg_catalog.jsonb_object_keys(v_before) loop
    if not v_now ? k then
      perform logs.log_event('audit.wal_capture_repaired', 'notice', null, k, null, pg_catalog.jsonb_build_object('table', k));
    end if;
  end loop;
  update audit.wal_state set problems = v_now where slot_name = p_slot;
  return v_now;
end
$$;
alter function audit._wal_check(name) owner to {{role:owner}};
revoke all on function audit._wal_check(name) from public;

grant select on audit.wal_state to {{role:auditor}}, {{role:security_admin}};
grant execute on function audit.wal_capture_ready() to {{role:auditor}}, {{role:security_admin}};
grant execute on function
  audit._wal_context(),
  audit._wal_attach(regclass),
  audit._wal_register_slot(name, boolean),
  audit._wal_check(name),
  audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                   text[], text[], inet[], text[], text[], text[])
to {{role:security_admin}};
