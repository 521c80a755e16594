-- audit 0002: capture. Statement-level triggers with transition tables write one
-- audit.row_changes row per changed row (one per statement for TRUNCATE), whatever the path:
-- plain DML, CTEs, dynamic SQL, COPY, ON CONFLICT, MERGE, FK cascades, partitions.
--
-- The capture runs in the business transaction: if it fails, the statement fails (A-20), and a
-- rollback leaves no record (A-02). Excluded columns are left out of old_data and new_data;
-- redacted columns keep their key with the value '[redacted]'.

-- A row as jsonb minus the excluded columns, with redacted values replaced.
create function audit._shape(p_row jsonb, p_exclude text[], p_redact text[]) returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select (p_row operator(pg_catalog.-) p_exclude)
         operator(pg_catalog.||) coalesce((select pg_catalog.jsonb_object_agg(k, '"[redacted]"'::jsonb)
                     from pg_catalog.unnest(p_redact) k
                    where p_row operator(pg_catalog.?) k and not k = any (p_exclude)), '{}'::jsonb)
$$;
alter function audit._shape(jsonb, text[], text[]) owner to {{role:owner}};
revoke all on function audit._shape(jsonb, text[], text[]) from public;

-- security definer: the roles doing the DML hold no privilege on audit.row_changes, so the
-- capture inserts as the owner. Who acted is read from the verified request context of the role
-- the statement runs as (the SET ROLE setting; current_user is the owner in here).
create function audit._capture() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
-- Values in one form whatever the writer's session says, the same as WAL capture writes them.
set timezone = 'UTC'
set intervalstyle = 'postgres'
set bytea_output = 'hex'
set extra_float_digits = 1
as $$
declare
  v_role text := coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user::text);
  v_ctx jsonb;
  v_cfg audit.audited_tables;
  v_pk text[];
  v_plain boolean;
begin
  v_ctx := auth._context(v_role);
  select * into v_cfg from audit.audited_tables where table_oid = tg_relid;
  v_cfg.exclude_columns := coalesce(v_cfg.exclude_columns, '{}');
  v_cfg.redact_columns := coalesce(v_cfg.redact_columns, '{}');
  -- Nothing to leave out or redact: the rows go in as they are, without audit._shape().
  v_plain := pg_catalog.cardinality(v_cfg.exclude_columns) = 0 and pg_catalog.cardinality(v_cfg.redact_columns) = 0;

  if tg_op = 'TRUNCATE' then
    insert into audit.row_changes (table_oid, schema_name, table_name, op, actor_sub, actor_tenant, db_role)
    values (tg_relid, tg_table_schema, tg_table_name, tg_op, v_ctx->>'sub', v_ctx->>'tenant', v_role);
    return null;
  end if;

  v_pk := v_cfg.pk_columns;
  if v_pk is null then
    select pg_catalog.array_agg(a.attname::text order by a.attnum) into v_pk
      from pg_catalog.pg_index i
      join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
     where i.indrelid = tg_relid and i.indisprimary;
  end if;
  if v_pk is null then
    raise exception using errcode = 'PW420',
      message = pg_catalog.format('table %I.%I has no primary key: its changes cannot be audited', tg_table_schema, tg_table_name);
  end if;

  if tg_op = 'INSERT' then
    insert into audit.row_changes (table_oid, schema_name, table_name, op, record_id, new_data, actor_sub, actor_tenant, db_role)
    select tg_relid, tg_table_schema, tg_table_name, tg_op,
           pg_catalog.md5(tg_relid::text || ':' || (select pg_catalog.jsonb_object_agg(k, j->k) from pg_catalog.unnest(v_pk) k)::text)::uuid,
           case when v_plain then j else audit._shape(j, v_cfg.exclude_columns, v_cfg.redact_columns) end, v_ctx->>'sub', v_ctx->>'tenant', v_role
      from (select pg_catalog.to_jsonb(n.*) as j from pgw_new n) r;
  elsif tg_op = 'DELETE' then
    insert into audit.row_changes (table_oid, schema_name, table_name, op, record_id, old_data, actor_sub, actor_tenant, db_role)
    select tg_relid, tg_table_schema, tg_table_name, tg_op,
           pg_catalog.md5(tg_relid::text || ':' || (select pg_catalog.jsonb_object_agg(k, j->k) from pg_catalog.unnest(v_pk) k)::text)::uuid,
           case when v_plain then j else audit._shape(j, v_cfg.exclude_columns, v_cfg.redact_columns) end, v_ctx->>'sub', v_ctx->>'tenant', v_role
      from (select pg_catalog.to_jsonb(o.*) as j from pgw_old o) r;
  else
    -- Old and new rows are paired on the primary key; a row whose key changed shows up as an
    -- UPDATE with only old_data and one with only new_data.
    insert into audit.row_changes
      (table_oid, schema_name, table_name, op, record_id, old_data, new_data, changed_columns, actor_sub, actor_tenant, db_role)
    select tg_relid, tg_table_schema, tg_table_name, tg_op,
           pg_catalog.md5(tg_relid::text || ':' || coalesce(n.pk, o.pk)::text)::uuid,
           case when v_plain then o.j else audit._shape(o.j, v_cfg.exclude_columns, v_cfg.redact_columns) end,
           case when v_plain then n.j else audit._shape(n.j, v_cfg.exclude_columns, v_cfg.redact_columns) end,
           (select coalesce(pg_catalog.array_agg(k order by k collate "C"), '{}')
              from pg_catalog.jsonb_object_keys(coalesce(n.j, o.j)) k
             where (o.j -> k) is distinct from (n.j -> k) and not k = any (v_cfg.exclude_columns)),
           v_ctx->>'sub', v_ctx->>'tenant', v_role
      from (select j, (select pg_catalog.jsonb_object_agg(k, j->k) from pg_catalog.unnest(v_pk) k) as pk
              from (select pg_catalog.to_jsonb(x.*) as j from pgw_old x) s) o
      full join (select j, (select pg_catalog.jsonb_object_agg(k, j->k) from pg_catalog.unnest(v_pk) k) as pk
                   from (select pg_catalog.to_jsonb(x.*) as j from pgw_new x) s) n on n.pk = o.pk;
  end if;
  return null;
end
$$;
alter function audit._capture() owner to {{role:owner}};
revoke all on function audit._capture() from public;

-- Security invoker: drops the four capture triggers of a table (trigger or WAL capture's), where
-- present; dropping a trigger needs the table's ownership, which the caller must hold.
create function audit._drop_capture_triggers(p_table regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  execute pg_catalog.format('drop trigger if exists pgw_audit_insert on %1$s; drop trigger if exists pgw_audit_update on %1$s;'
    ' drop trigger if exists pgw_audit_delete on %1$s; drop trigger if exists pgw_audit_truncate on %1$s', p_table);
end
$$;
alter function audit._drop_capture_triggers(regclass) owner to {{role:owner}};
revoke all on function audit._drop_capture_triggers(regclass) from public;

-- security definer: writes audit.audited_tables and the security event, which its callers
-- cannot touch directly; called by audit.enable/disable after they changed the triggers.
create function audit._register(p_table regclass, p_exclude text[], p_redact text[], p_enable boolean,
                                p_capture text default 'trigger') returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_fn regprocedure := case p_capture when 'wal' then 'audit._wal_context()'::pg_catalog.regprocedure
                                      else 'audit._capture()'::pg_catalog.regprocedure end;
  v_triggers integer;
begin
  select pg_catalog.count(*) into v_triggers from pg_catalog.pg_trigger
   where tgrelid = p_table and tgname in ('pgw_audit_insert', 'pgw_audit_update', 'pgw_audit_delete', 'pgw_audit_truncate')
     and (not p_enable or tgfoid = v_fn);
  if p_enable then
    if v_triggers <> 4 then
      raise exception using errcode = 'PW420', message = 'the audit triggers are missing; use audit.enable()';
    end if;
    if p_capture = 'wal' and not audit._wal_published(p_table) then
      raise exception using errcode = 'PW420', message = 'the table is not in the WAL capture publication; use audit.enable()';
    end if;
    insert into audit.audited_tables (table_oid, exclude_columns, redact_columns, pk_columns, capture)
    values (p_table, coalesce(p_exclude, '{}'), coalesce(p_redact, '{}'),
            (select pg_catalog.array_agg(a.attname::text order by a.attnum)
               from pg_catalog.pg_index i
               join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
              where i.indrelid = p_table and i.indisprimary), p_capture)
    on conflict (table_oid) do update set exclude_columns = excluded.exclude_columns,
      redact_columns = excluded.redact_columns, pk_columns = excluded.pk_columns, capture = excluded.capture,
      enabled = true, enabled_at = excluded.enabled_at, enabled_by = excluded.enabled_by;
  else
    if v_triggers <> 0 then
      raise exception using errcode = 'PW420', message = 'the audit triggers are still present; use audit.disable()';
    end if;
    -- Where WAL capture is set up, the table keeps its row: changes it made under WAL capture
    -- (before now, or before a switch to trigger capture) may still be decoded, and they are
    -- shaped by its exclude and redact lists.
    if exists (select 1 from audit.wal_state) then
      update audit.audited_tables set enabled = false where table_oid = p_table;
    else
      delete from audit.audited_tables where table_oid = p_table;
    end if;
  end if;
  perform logs.log_event(case when p_enable then 'audit.table_enabled' else 'audit.table_disabled' end, 'notice',
    null, p_table::text, null,
    pg_catalog.jsonb_build_object('table', p_table::text, 'exclude_columns', coalesce(p_exclude, '{}'),
                                  'redact_columns', coalesce(p_redact, '{}'))
      || case when p_enable then pg_catalog.jsonb_build_object('capture', p_capture) else '{}'::jsonb end);
end
$$;
alter function audit._register(regclass, text[], text[], boolean, text) owner to {{role:owner}};
revoke all on function audit._register(regclass, text[], text[], boolean, text) from public;

-- Security invoker: creating triggers needs the TRIGGER privilege on the table (dropping them,
-- its ownership), which the caller must hold; pgwarden's owner role gets no say over app tables.
-- WAL capture also sets the table's REPLICA IDENTITY FULL and adds it to the publication, which
-- needs its ownership and the publication's (audit 0006).
--
-- p_capture: 'trigger' (in the writing transaction), 'wal' (decoded from the write-ahead log
-- after commit: a fraction of the write cost), or NULL for 'wal' when WAL capture is set up
-- (audit.wal_capture_ready()) and 'trigger' otherwise. Switching a table between the two loses
-- and doubles nothing: the switch waits for the table's writers and changes both at once.
create function audit.enable(p_table regclass, p_exclude text[] default '{}', p_redact text[] default '{}',
                             p_capture text default null)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_kind "char";
  v_schema text;
  v_missing text[];
  v_capture text := p_capture;
  v_fn regprocedure;
  v_redo boolean;
begin
  select c.relkind, n.nspname into v_kind, v_schema
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = p_table;
  if v_kind not in ('r', 'p') then
    raise exception using errcode = 'PW420', message = pg_catalog.format('%s is not a table', p_table),
      hint = 'only ordinary and partitioned tables can be audited';
  end if;
  if v_schema in ('pgwarden', 'logs', 'auth', 'audit', 'ledger', 'compliance', 'monitor', 'pg_catalog', 'information_schema')
     or v_schema like 'pg\_%' then
    raise exception using errcode = 'PW420',
      message = pg_catalog.format('%s is in schema %s, which pgwarden or PostgreSQL manages', p_table, v_schema);
  end if;
  if not exists (select 1 from pg_catalog.pg_index where indrelid = p_table and indisprimary) then
    raise exception using errcode = 'PW420', message = pg_catalog.format('%s has no primary key', p_table),
      hint = 'audit records name each row by its primary key; add one first';
  end if;
  select pg_catalog.array_agg(c) into v_missing from pg_catalog.unnest(coalesce(p_exclude, '{}') || coalesce(p_redact, '{}')) c
   where not exists (select 1 from pg_catalog.pg_attribute a
                      where a.attrelid = p_table and a.attname = c and a.attnum > 0 and not a.attisdropped);
  if v_missing is not null then
    raise exception using errcode = 'PW420',
      message = pg_catalog.format('%s has no column %s', p_table, pg_catalog.array_to_string(v_missing, ', '));
  end if;
  if v_capture is null then
    v_capture := case when audit.wal_capture_ready() then 'wal' else 'trigger' end;
  elsif v_capture not in ('trigger', 'wal') then
    raise exception using errcode = 'PW420', message = pg_catalog.format('unknown capture %L', v_capture),
      hint = 'capture is trigger or wal';
  elsif v_capture = 'wal' and not audit.wal_capture_ready() then
    raise exception using errcode = 'PW420', message = 'WAL capture is not set up in this database',
      hint = 'it needs wal_level = logical and pgwarden''s replication slot: run pgwarden audit capture setup';
  end if;
  v_fn := case v_capture when 'wal' then 'audit._wal_context()'::pg_catalog.regprocedure
                         else 'audit._capture()'::pg_catalog.regprocedure end;
  if v_capture = 'wal' then
    v_redo := not audit._wal_attached(p_table);
  else
    v_redo := audit._wal_published(p_table)
      or (select pg_catalog.count(*) from pg_catalog.pg_trigger where tgrelid = p_table and tgfoid = v_fn
            and tgname in ('pgw_audit_insert', 'pgw_audit_update', 'pgw_audit_delete', 'pgw_audit_truncate')) < 4;
  end if;
  if v_redo then
    -- Writers wait while capture is switched on or over, so each change is captured one way.
    execute pg_catalog.format('lock table %s in share row exclusive mode', p_table);
    perform audit._drop_capture_triggers(p_table);
    if v_capture = 'wal' then
      perform audit._wal_attach(p_table);
    else
      perform audit._wal_detach(p_table);
      execute pg_catalog.format('create trigger pgw_audit_insert after insert on %s referencing new table as pgw_new'
        ' for each statement execute function audit._capture()', p_table);
      execute pg_catalog.format('create trigger pgw_audit_update after update on %s referencing old table as pgw_old'
        ' new table as pgw_new for each statement execute function audit._capture()', p_table);
      execute pg_catalog.format('create trigger pgw_audit_delete after delete on %s referencing old table as pgw_old'
        ' for each statement execute function audit._capture()', p_table);
      execute pg_catalog.format('create trigger pgw_audit_truncate after truncate on %s'
        ' for each statement execute function audit._capture()', p_table);
    end if;
  end if;
  perform audit._register(p_table, p_exclude, p_redact, true, v_capture);
end
$$;
alter function audit.enable(regclass, text[], text[], text) owner to {{role:owner}};
revoke all on function audit.enable(regclass, text[], text[], text) from public;
comment on function audit.enable(regclass, text[], text[], text) is
  'pgwarden: capture the row changes of a table (idempotent; capture trigger, wal, or NULL for the best available); PW420 when it cannot be audited';

create function audit.disable(p_table regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform audit._drop_capture_triggers(p_table);
  perform audit._wal_detach(p_table);
  perform audit._register(p_table, null, null, false);
end
$$;
alter function audit.disable(regclass) owner to {{role:owner}};
revoke all on function audit.disable(regclass) from public;
comment on function audit.disable(regclass) is 'pgwarden: stop capturing the row changes of a table';
