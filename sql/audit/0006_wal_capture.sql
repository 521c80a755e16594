-- audit 0006: WAL capture. A table enabled with capture 'wal' costs its writers almost nothing:
-- its changes are decoded from the write-ahead log after commit (logical decoding, the pgoutput
-- plugin, publication pgwarden_audit) by pgwarden's capture service, and written to
-- audit.row_changes as the capture trigger would have written them.
--
-- What the log does not hold is who made a change. A BEFORE statement trigger writes a row to
-- audit.wal_context (db role, session user, client address, application name, the verified
-- request context) when the transaction has none yet for its current role and request context;
-- an owner-only unlogged table remembers, per backend, the last one written, so later statements
-- cost one index probe. audit.wal_context is in its own publication, so the row arrives in the
-- decoded stream just before the changes it describes. Only the owner role writes either table
-- (the trigger is security definer): a user can neither forge an actor nor skip the row. A change
-- decoded without a context row (session_replication_role = replica, which needs a superuser) is
-- still recorded, with the context columns NULL, and reported as audit.wal_context_missing.
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

-- Per backend, the transaction, role and request context audit.wal_context last got a row for.
-- Unlogged: it matters only while the backend lives, and is never decoded.
create unlogged table audit.wal_context_seen (
  pid  integer primary key,
  key  text    not null
);
alter table audit.wal_context_seen owner to {{role:owner}};
comment on table audit.wal_context_seen is
  'pgwarden: per backend, the transaction/role/context audit.wal_context last recorded (owner-only)';

-- security definer: writes audit.wal_context and audit.wal_context_seen, which no other role
-- may, and reads only them: no setting a user controls can make it skip the row.
create function audit._wal_context() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_key text := pg_catalog.concat(pg_catalog.pg_current_xact_id(), '/', pg_catalog.current_setting('role'), '/',
                                  pg_catalog.current_setting('pgwarden.context_mac', true));
  v_role text;
  v_ctx jsonb;
begin
  if exists (select 1 from audit.wal_context_seen s where s.pid = pg_catalog.pg_backend_pid() and s.key = v_key) then
    return null;
  end if;
  v_role := coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user::text);
  v_ctx := auth._context(v_role);
  insert into audit.wal_context (db_role, actor_sub, actor_tenant) values (v_role, v_ctx->>'sub', v_ctx->>'tenant');
  insert into audit.wal_context_seen as s (pid, key) values (pg_catalog.pg_backend_pid(), v_key)
  on conflict (pid) do update set key = excluded.key;
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

-- What keeps a table's changes (or its partitions') from reaching the trail by WAL capture:
-- 'not_published', 'replica_identity' (not FULL), 'context_triggers' (not all four, enabled).
-- Empty when it is fully set up.
create function audit._wal_problems(p_table regclass) returns text[]
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  with tree as (select p_table as relid union select t.relid from pg_catalog.pg_partition_tree(p_table) t)
  select pg_catalog.array_remove(array[
    case when not audit._wal_published(p_table) then 'not_published' end,
    case when exists (select 1 from tree r join pg_catalog.pg_class c on c.oid = r.relid
                       where c.relkind = 'r' and c.relreplident <> 'f') then 'replica_identity' end,
    case when exists (select 1 from tree r
                       where (select pg_catalog.count(*) from pg_catalog.pg_trigger tg
                               where tg.tgrelid = r.relid and tg.tgenabled in ('O', 'A')
                                 and tg.tgfoid = 'audit._wal_context()'::pg_catalog.regprocedure
                                 and tg.tgname in ('pgw_audit_insert', 'pgw_audit_update', 'pgw_audit_delete', 'pgw_audit_truncate')) <> 4)
         then 'context_triggers' end], null)
$$;
alter function audit._wal_problems(regclass) owner to {{role:owner}};

-- Whether a table (and each of its partitions) is fully set up for WAL capture.
create function audit._wal_attached(p_table regclass) returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.cardinality(audit._wal_problems(p_table)) = 0
$$;
alter function audit._wal_attached(regclass) owner to {{role:owner}};

-- Security invoker, called by audit.enable(): REPLICA IDENTITY and the publication need the
-- caller to own the table (and the publication). FULL puts every old value in the log, which
-- old_data needs. A partitioned table's partitions get FULL and the context triggers too: their
-- changes are decoded with their own identity, and a statement addressed to a partition fires
-- the partition's statement triggers, not the parent's. Partitions added later need
-- audit.enable() again (audit._wal_check reports them).
create function audit._wal_attach(p_table regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_part regclass;
begin
  if not audit._wal_published(p_table) then
    execute pg_catalog.format('alter publication pgwarden_audit add table only %s', p_table);
  end if;
  -- pg_partition_tree() lists a partitioned table and its partitions; a plain table only itself.
  for v_part in select p_table union select t.relid from pg_catalog.pg_partition_tree(p_table) t where t.isleaf or t.level > 0 loop
    execute pg_catalog.format('alter table %s replica identity full', v_part);
    perform audit._drop_capture_triggers(v_part);
    execute pg_catalog.format('create trigger pgw_audit_insert before insert on %s for each statement'
      ' execute function audit._wal_context()', v_part);
    execute pg_catalog.format('create trigger pgw_audit_update before update on %s for each statement'
      ' execute function audit._wal_context()', v_part);
    execute pg_catalog.format('create trigger pgw_audit_delete before delete on %s for each statement'
      ' execute function audit._wal_context()', v_part);
    execute pg_catalog.format('create trigger pgw_audit_truncate before truncate on %s for each statement'
      ' execute function audit._wal_context()', v_part);
  end loop;
exception when insufficient_privilege then
  raise exception using errcode = 'PW420', message = pg_catalog.format('cannot set up WAL capture of %s: %s', p_table, sqlerrm),
    hint = 'WAL capture needs the table''s owner, who must also own publication pgwarden_audit (the role that ran pgwarden audit capture setup), or a superuser';
end
$$;
alter function audit._wal_attach(regclass) owner to {{role:owner}};
revoke all on function audit._wal_attach(regclass) from public;

-- Security invoker, called by audit.enable()/disable() when a table leaves WAL capture: the
-- publication and the context triggers of its partitions.
create function audit._wal_detach(p_table regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_part regclass;
begin
  if audit._wal_published(p_table) then
    execute pg_catalog.format('alter publication pgwarden_audit drop table %s', p_table);
  end if;
  for v_part in select t.relid from pg_catalog.pg_partition_tree(p_table) t where t.level > 0 loop
    perform audit._drop_capture_triggers(v_part);
  end loop;
end
$$;
alter function audit._wal_detach(regclass) owner to {{role:owner}};
revoke all on function audit._wal_detach(regclass) from public;

-- security definer: records the slot pgwarden created (pg_create_logical_replication_slot cannot
-- run in a transaction that wrote, so the capture service creates it first). The applied position
-- starts where the slot does. A slot registered again (created anew after it was lost or dropped)
-- starts past the applied position: audit._wal_check reports that gap.
create function audit._wal_register_slot(p_slot name) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_start pg_lsn;
begin
  if not coalesce((select r.rolsuper or r.rolreplication from pg_catalog.pg_roles r where r.rolname = session_user), false) then
    raise exception using errcode = 'PW424', message = 'WAL capture needs a login with the REPLICATION attribute (or a superuser)';
  end if;
  select s.confirmed_flush_lsn into v_start from pg_catalog.pg_replication_slots s where s.slot_name = p_slot
     and s.database = pg_catalog.current_database() and s.plugin = 'pgoutput' and s.slot_type = 'logical';
  if not found then
    raise exception using errcode = 'PW424', message = pg_catalog.format('no pgoutput slot %s in this database', p_slot);
  end if;
  if exists (select 1 from audit.wal_state where slot_name = p_slot) then
    perform audit._wal_check(p_slot);
    return;
  end if;
  insert into audit.wal_state (slot_name, database_oid, applied_lsn)
  values (p_slot, (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database()), v_start);
  perform logs.log_event('audit.wal_capture_setup', 'notice', null, p_slot, null, pg_catalog.jsonb_build_object('slot', p_slot));
end
$$;
alter function audit._wal_register_slot(name) owner to {{role:owner}};
revoke all on function audit._wal_register_slot(name) from public;

-- security definer: writes audit.row_changes, audit.wal_state and audit.wal_context, which the
-- capture service's login cannot. Applies the decoded changes of whole transactions that ended
-- after p_after, up to p_to, as the capture trigger would have recorded them (record id,
-- exclude/redact lists, changed columns). p_after must be the position last applied: two
-- services cannot both apply the same changes. Only a login that may read the log itself (the
-- REPLICATION attribute, or a superuser) may call it: what it writes, it could have decoded.
create function audit._wal_apply(
  p_slot name, p_after pg_lsn, p_to pg_lsn,
  p_table_oid oid[], p_schema text[], p_table text[], p_op text[], p_old text[], p_new text[], p_changed text[],
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
  -- Nothing past the flushed log can have been decoded: a position beyond it would make later
  -- changes look applied already.
  if p_to > pg_catalog.pg_current_wal_flush_lsn() then
    raise exception using errcode = 'PW424', message = pg_catalog.format('position %s is beyond the flushed log', p_to);
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
         -- Changed columns come from the decoder (the columns whose logged text differs, in byte
         -- order); excluded ones are left out here.
         case when x.op <> 'UPDATE' then null
              when coalesce(pg_catalog.cardinality(c.exclude_columns), 0) = 0 then j.chg
              else array(select k from pg_catalog.unnest(j.chg) with ordinality as u(k, i)
                          where not k = any (c.exclude_columns) order by i) end,
         x.sub, x.tenant, x.rol, x.su, x.addr, x.app, 'wal'
    from rows from (pg_catalog.unnest(p_table_oid), pg_catalog.unnest(p_schema), pg_catalog.unnest(p_table),
                    pg_catalog.unnest(p_op), pg_catalog.unnest(p_old), pg_catalog.unnest(p_new),
                    pg_catalog.unnest(p_changed), pg_catalog.unnest(p_source_txid), pg_catalog.unnest(p_time), pg_catalog.unnest(p_role),
                    pg_catalog.unnest(p_session_user), pg_catalog.unnest(p_client_addr),
                    pg_catalog.unnest(p_application), pg_catalog.unnest(p_sub), pg_catalog.unnest(p_tenant))
         with ordinality as x(oid, sch, tab, op, old, new, chg_text, xid, t, rol, su, addr, app, sub, tenant, n)
    -- The lists in force now: a table disabled since keeps its row (enabled = false) for this.
    left join audit.audited_tables c on c.table_oid = x.oid
   cross join lateral (select x.old::jsonb as oj, x.new::jsonb as nj, x.chg_text::text[] as chg,
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
alter function audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                                text[], text[], inet[], text[], text[], text[]) owner to {{role:owner}};
revoke all on function audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                                        text[], text[], inet[], text[], text[], text[]) from public;

-- security definer: reads the owner's state and writes security events. Run by every capture
-- pass and by the slot's registration.
--   * A gap: the slot's confirmed position is past the applied one. Only pgwarden moves the slot,
--     and only up to what it applied; anything else (the slot dropped and created again, lost to
--     max_slot_wal_keep_size and recreated, or moved by hand with pg_replication_slot_advance)
--     skipped log that was never applied: a critical audit.wal_gap naming the range and the
--     tables, and the applied position catches up so capture goes on.
--   * A table whose changes would no longer reach the trail (out of the publication, a table or
--     partition without REPLICA IDENTITY FULL or its context triggers), or would reach it twice
--     (published while on trigger capture): a critical audit.wal_capture_broken, once per
--     problem; its repair, a notice.
-- Returns the problems found, keyed by table.
create function audit._wal_check(p_slot name) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now jsonb;
  v_state audit.wal_state;
  v_confirmed pg_lsn;
  k text;
begin
  select * into v_state from audit.wal_state w where w.slot_name = p_slot for update;
  if not found then
    return '{}';
  end if;
  select s.confirmed_flush_lsn into v_confirmed from pg_catalog.pg_replication_slots s where s.slot_name = p_slot;
  if v_confirmed > v_state.applied_lsn then
    perform logs.log_event('audit.wal_gap', 'critical', null, p_slot, null,
      pg_catalog.jsonb_build_object('slot', p_slot, 'applied_lsn', v_state.applied_lsn::text, 'slot_lsn', v_confirmed::text,
        'applied_at', v_state.applied_at, 'tables',
        coalesce((select pg_catalog.jsonb_agg(a.table_oid::regclass::text order by 1) from audit.audited_tables a
                   where a.capture = 'wal' and a.enabled), '[]')));
    update audit.wal_state set applied_lsn = v_confirmed where slot_name = p_slot;
  end if;

  select coalesce(pg_catalog.jsonb_object_agg(t.name, t.problems), '{}') into v_now
    from (select a.table_oid::regclass::text as name,
                 pg_catalog.to_jsonb(case when a.capture = 'wal' then audit._wal_problems(a.table_oid)
                                          when audit._wal_published(a.table_oid) then '{published_with_trigger_capture}'::text[]
                                          else '{}'::text[] end) as problems
            from audit.audited_tables a
           where a.enabled and exists (select 1 from pg_catalog.pg_class c where c.oid = a.table_oid)) t
   where pg_catalog.jsonb_array_length(t.problems) > 0;
  if v_now = v_state.problems then
    return v_now;
  end if;
  for k in select pg_catalog.jsonb_object_keys(v_now) loop
    if (v_state.problems -> k) is distinct from (v_now -> k) then
      perform logs.log_event('audit.wal_capture_broken', 'critical', null, k, null,
        pg_catalog.jsonb_build_object('table', k, 'problems', v_now -> k));
    end if;
  end loop;
  for k in select pg_catalog.jsonb_object_keys(v_state.problems) loop
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

-- security definer: writes a security event. For a batch audit._wal_apply() refused: each JSON
-- text that jsonb does not take (json allows "\u0000", which jsonb refuses) is replaced by
-- {"pgwarden.unreadable": <the text>}, so one value cannot stop the capture of every later change;
-- a critical audit.wal_value_unreadable names them. Returns the array with the replacements.
create function audit._wal_readable(p_values text[], p_tables text[]) returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_out text[] := p_values;
  v_bad text[] := '{}';
begin
  for i in 1 .. coalesce(pg_catalog.array_length(p_values, 1), 0) loop
    continue when p_values[i] is null;
    begin
      perform p_values[i]::jsonb;
    exception when others then
      v_out[i] := pg_catalog.jsonb_build_object('pgwarden.unreadable', p_values[i])::text;
      v_bad := v_bad || p_tables[i];
    end;
  end loop;
  if pg_catalog.cardinality(v_bad) > 0 then
    perform logs.log_event('audit.wal_value_unreadable', 'critical', null, null, null,
      pg_catalog.jsonb_build_object('count', pg_catalog.cardinality(v_bad),
        'tables', (select pg_catalog.jsonb_agg(distinct t) from pg_catalog.unnest(v_bad) t)));
  end if;
  return v_out;
end
$$;
alter function audit._wal_readable(text[], text[]) owner to {{role:owner}};
revoke all on function audit._wal_readable(text[], text[]) from public;

grant select on audit.wal_state to {{role:auditor}}, {{role:security_admin}};
grant execute on function audit.wal_capture_ready() to {{role:auditor}}, {{role:security_admin}};
grant execute on function audit._wal_published(regclass), audit._wal_problems(regclass), audit._wal_attached(regclass)
  to {{role:security_admin}};
grant execute on function
  audit._wal_context(),
  audit._wal_attach(regclass),
  audit._wal_detach(regclass),
  audit._wal_register_slot(name),
  audit._wal_check(name),
  audit._wal_readable(text[], text[]),
  audit._wal_apply(name, pg_lsn, pg_lsn, oid[], text[], text[], text[], text[], text[], text[], xid8[], timestamptz[],
                   text[], text[], inet[], text[], text[], text[])
to {{role:security_admin}};
