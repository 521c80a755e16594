-- audit 0005: retention. Whole monthly partitions of audit.row_changes leave the database only
-- after they were archived: pgwarden's retention (Node) writes every row of the partition, with
-- its ledger position and canonical leaf, to an archive file, checks the file, then calls
-- audit.drop_archived_partition(), which refuses unless the partition is whole, in the past and
-- (with the ledger installed) entirely sealed, and records what was archived where.
--
-- The ledger keeps the archived rows' leaf hashes, so the tree still verifies. This table is
-- bookkeeping, not evidence: `pgwarden audit verify --archive-dir` counts a gone row as archived
-- only when an archive file holds its sealed leaf.

create table audit.archived_partitions (
  partition_name   text        primary key,
  range_from       timestamptz not null,
  range_to         timestamptz not null check (range_to > range_from),
  row_count        bigint      not null check (row_count >= 0),
  archive_name     text        not null,
  archive_sha256   text        not null check (archive_sha256 ~ '^[0-9a-f]{64}$'),
  archived_at      timestamptz not null default pg_catalog.clock_timestamp(),
  archived_by      text        not null default session_user
);
alter table audit.archived_partitions owner to {{role:owner}};
comment on table audit.archived_partitions is
  'pgwarden: audit partitions archived and dropped by retention (name, range, rows, archive digest)';
create trigger archived_partitions_no_update before update on audit.archived_partitions
  for each row execute function logs._refuse_change();
create trigger archived_partitions_no_delete before delete on audit.archived_partitions
  for each row execute function logs._refuse_change();
revoke update, delete, truncate on audit.archived_partitions from {{role:owner}};

-- The monthly partitions with their ranges (the default partition has none and is never archived).
create function audit.partitions()
returns table (partition_name text, range_from timestamptz, range_to timestamptz)
language sql
stable
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
set timezone = 'UTC'
as $$
  select pg_catalog.format('%I.%I', n.nspname, c.relname),
         (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz,
         (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), $re$TO \('([^']+)'\)$re$))[1]::timestamptz
    from pg_catalog.pg_inherits i
    join pg_catalog.pg_class c on c.oid = i.inhrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where i.inhparent = 'audit.row_changes'::regclass
     and pg_catalog.pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
   order by 2
$$;
alter function audit.partitions() owner to {{role:owner}};
revoke all on function audit.partitions() from public;

-- security definer: dropping a partition needs the owner, which nobody else is; this is the only
-- way a partition leaves, and only once archived (the caller vouches for the archive with its
-- digest and row count, which are checked against the partition and recorded).
create function audit.drop_archived_partition(
  p_partition    regclass,
  p_row_count    bigint,
  p_archive_name text,
  p_sha256       text
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
set timezone = 'UTC'
as $$
declare
  v_name text := p_partition::text;
  v_from timestamptz;
  v_to timestamptz;
  v_rows bigint;
  v_unsealed bigint := 0;
begin
  select p.range_from, p.range_to into v_from, v_to from audit.partitions() p where p.partition_name = v_name;
  if v_from is null then
    raise exception using errcode = 'PW422', message = pg_catalog.format('%s is not a monthly partition of audit.row_changes', v_name),
      hint = 'the default partition is never archived';
  end if;
  if v_to > pg_catalog.now() then
    raise exception using errcode = 'PW422', message = pg_catalog.format('%s still receives rows (it ends %s)', v_name, v_to);
  end if;
  execute pg_catalog.format('select pg_catalog.count(*) from %s', p_partition) into v_rows;
  if v_rows <> p_row_count then
    raise exception using errcode = 'PW422',
      message = pg_catalog.format('the archive holds %s rows, %s holds %s', p_row_count, v_name, v_rows);
  end if;
  if pg_catalog.to_regclass('ledger.entries') is not null then
    execute pg_catalog.format('select pg_catalog.count(*) from %s r where not exists
      (select 1 from ledger.entries l where l.source = 1 and l.source_id = r.id)', p_partition) into v_unsealed;
    if v_unsealed > 0 then
      raise exception using errcode = 'PW422',
        message = pg_catalog.format('%s has %s rows not sealed into the ledger yet', v_name, v_unsealed),
        hint = 'run `pgwarden audit seal` first';
    end if;
  end if;
  insert into audit.archived_partitions (partition_name, range_from, range_to, row_count, archive_name, archive_sha256)
  values (v_name, v_from, v_to, v_rows, p_archive_name, p_sha256);
  perform logs.log_event('audit.partition_archived', 'notice', null, v_name, null,
    pg_catalog.jsonb_build_object('partition', v_name, 'from', v_from, 'to', v_to, 'rows', v_rows,
                                  'archive', p_archive_name, 'sha256', p_sha256));
  execute pg_catalog.format('alter table audit.row_changes detach partition %s', p_partition);
  execute pg_catalog.format('drop table %s', p_partition);
end
$$;
alter function audit.drop_archived_partition(regclass, bigint, text, text) owner to {{role:owner}};
revoke all on function audit.drop_archived_partition(regclass, bigint, text, text) from public;

grant select on audit.archived_partitions to {{role:auditor}}, {{role:security_admin}};
grant execute on function audit.partitions(), audit.drop_archived_partition(regclass, bigint, text, text)
  to {{role:security_admin}};
