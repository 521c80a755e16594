-- audit 0001: the row-change audit trail: audit.row_changes (append-only, partitioned by month
-- on recorded_at) and audit.audited_tables (which tables are captured, and how).
--
-- Rows are written only by the capture trigger of 0002 (security definer, owned by the owner
-- role). Nobody may change or remove them through SQL: UPDATE, DELETE and TRUNCATE are revoked
-- from every role including the owner, and triggers refuse them (PW421) should a grant come back.
-- Request roles (anon, app_user, authenticator) get nothing in this schema; auditor reads.

create schema if not exists audit authorization {{role:owner}};
revoke all on schema audit from public;
comment on schema audit is 'pgwarden: row-change audit trail (append-only)';

create table audit.row_changes (
  id                 bigint      generated always as identity,
  recorded_at        timestamptz not null default pg_catalog.clock_timestamp(),
  -- The transaction that wrote this row: the ledger seals in its order.
  txid               xid8        not null default pg_catalog.pg_current_xact_id(),
  -- The transaction that made the change: txid for trigger capture, the decoded one for WAL capture.
  source_txid        xid8        not null default pg_catalog.pg_current_xact_id(),
  table_oid          oid         not null,
  schema_name        text        not null,
  table_name         text        not null,
  op                 text        not null check (op in ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
  record_id          uuid,
  old_data           jsonb,
  new_data           jsonb,
  changed_columns    text[],
  actor_sub          text,
  actor_tenant       text,
  -- NULL for a WAL-captured change whose transaction left no capture context (see audit 0006).
  db_role            text,
  session_user_name  text        default session_user,
  client_addr        inet        default pg_catalog.inet_client_addr(),
  application_name   text        default pg_catalog.current_setting('application_name', true),
  -- How the change was captured: 'trigger' (in the transaction) or 'wal' (decoded after commit).
  capture            text        not null default 'trigger' check (capture in ('trigger', 'wal')),
  primary key (id, recorded_at),
  -- One encoding per value in the ledger's leaves: data is an object or NULL (never JSON null),
  -- changed_columns a plain 1-based array, times finite.
  check (old_data is null or pg_catalog.jsonb_typeof(old_data) = 'object'),
  check (new_data is null or pg_catalog.jsonb_typeof(new_data) = 'object'),
  check (changed_columns is null or pg_catalog.cardinality(changed_columns) = 0
         or (pg_catalog.array_lower(changed_columns, 1) = 1 and pg_catalog.array_ndims(changed_columns) = 1)),
  check (pg_catalog.isfinite(recorded_at))
) partition by range (recorded_at);
alter table audit.row_changes owner to {{role:owner}};
create index row_changes_record_idx on audit.row_changes (table_oid, record_id, recorded_at);
-- The ledger sealer reads rows in (txid, id) order.
create index row_changes_txid_idx on audit.row_changes (txid, id);
comment on table audit.row_changes is
  'pgwarden: one row per changed row of an audited table; append-only (PW421)';
comment on column audit.row_changes.record_id is
  'stable per row: uuid from md5(table_oid || '':'' || primary-key values as jsonb text)';
comment on column audit.row_changes.actor_sub is
  'subject of the verified request context (auth.sub()); NULL outside a request';
comment on column audit.row_changes.db_role is
  'the role the statement ran as (SET ROLE, else the login)';

create table audit.row_changes_default partition of audit.row_changes default;
alter table audit.row_changes_default owner to {{role:owner}};

create table audit.audited_tables (
  table_oid        oid         primary key,
  exclude_columns  text[]      not null default '{}',
  redact_columns   text[]      not null default '{}',
  -- The primary-key columns, looked up once by audit.enable() instead of on every statement.
  pk_columns       text[],
  -- 'trigger': captured in the writing transaction (audit._capture); 'wal': decoded from the
  -- write-ahead log after commit (audit 0006).
  capture          text        not null default 'trigger' check (capture in ('trigger', 'wal')),
  -- false once disabled: a WAL-captured table keeps its row (and exclude/redact lists) for the
  -- changes made before audit.disable() that are decoded after it.
  enabled          boolean     not null default true,
  enabled_at       timestamptz not null default pg_catalog.clock_timestamp(),
  enabled_by       text        not null default session_user
);
alter table audit.audited_tables owner to {{role:owner}};
comment on table audit.audited_tables is 'pgwarden: tables whose row changes are captured; written by audit.enable()';

-- Changes to audit rows are refused by logs._refuse_change() (core 0005), pgwarden's one
-- append-only guard.

-- Row triggers on a partitioned table are cloned to its partitions; TRUNCATE triggers are not,
-- so audit._seal() adds one to each partition and revokes there too.
create trigger row_changes_no_update before update on audit.row_changes
  for each row execute function logs._refuse_change();
create trigger row_changes_no_delete before delete on audit.row_changes
  for each row execute function logs._refuse_change();
create trigger row_changes_no_truncate before truncate on audit.row_changes
  for each statement execute function logs._refuse_change();

create function audit._seal(p_partition regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  execute pg_catalog.format('create trigger row_changes_no_truncate before truncate on %s '
                            'for each statement execute function logs._refuse_change()', p_partition);
  execute pg_catalog.format('revoke update, delete, truncate on %s from %I', p_partition,
    (select r.rolname from pg_catalog.pg_class c join pg_catalog.pg_roles r on r.oid = c.relowner
      where c.oid = p_partition));
end
$$;
alter function audit._seal(regclass) owner to {{role:owner}};
revoke all on function audit._seal(regclass) from public;

select audit._seal('audit.row_changes_default'::regclass);
revoke update, delete, truncate on audit.row_changes from {{role:owner}};

-- security definer: partitions must belong to the owner role like their parent (so the owner,
-- not whoever calls this, holds them), and callers get no privilege on the table itself.
-- Creates the monthly partitions from this month to p_months ahead; existing ones are kept.
create function audit.ensure_partitions(p_months integer default 3) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_start date := pg_catalog.date_trunc('month', pg_catalog.now())::date;
  v_from date;
  v_name text;
  v_created integer := 0;
begin
  if p_months is null or p_months < 0 or p_months > 36 then
    raise exception using errcode = '22023', message = 'months must be between 0 and 36';
  end if;
  for i in 0 .. p_months loop
    v_from := (v_start + pg_catalog.make_interval(months => i))::date;
    v_name := 'row_changes_y' || pg_catalog.to_char(v_from, 'YYYY"m"MM');
    continue when pg_catalog.to_regclass('audit.' || pg_catalog.quote_ident(v_name)) is not null;
    -- Rows of that month already sit in the default partition (written before the month's
    -- partition existed): they cannot move (append-only), so the month stays in the default.
    continue when exists (select 1 from audit.row_changes_default
                           where recorded_at >= v_from and recorded_at < (v_from + interval '1 month'));
    execute pg_catalog.format('create table audit.%I partition of audit.row_changes for values from (%L) to (%L)',
                              v_name, v_from, (v_from + interval '1 month')::date);
    perform audit._seal(('audit.' || pg_catalog.quote_ident(v_name))::regclass);
    v_created := v_created + 1;
  end loop;
  return v_created;
end
$$;
alter function audit.ensure_partitions(integer) owner to {{role:owner}};
revoke all on function audit.ensure_partitions(integer) from public;
comment on function audit.ensure_partitions(integer) is
  'pgwarden: create the monthly audit.row_changes partitions from this month to N months ahead';
