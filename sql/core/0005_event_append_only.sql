-- core 0005: security events are append-only and carry the transaction that wrote them.
--
-- txid is the writing transaction's id (pg_current_xact_id(), a 64-bit xid8 that never wraps).
-- The ledger sealer uses it to seal events in commit-safe order: it only seals transactions
-- older than every transaction still running. Rows written before this file read txid 0.
--
-- No role, the owner included, may update, delete or truncate events through SQL: the
-- privileges are revoked and triggers refuse (PW421) should a grant come back. A superuser still
-- can (it can disable triggers); the ledger is what catches that.

alter table logs.notification_log add column if not exists txid xid8 not null default '0';
alter table logs.notification_log alter column txid set default pg_catalog.pg_current_xact_id();
create index if not exists notification_log_txid_idx on logs.notification_log (txid, id);
-- The table survives an uninstall (retained), so a reinstall finds the constraint already there.
alter table logs.notification_log drop constraint if exists notification_log_occurred_at_finite;
alter table logs.notification_log add constraint notification_log_occurred_at_finite
  check (pg_catalog.isfinite(occurred_at));
comment on column logs.notification_log.txid is
  'the writing transaction (pg_current_xact_id()); orders events for the ledger sealer';

-- The one append-only guard of pgwarden's evidence tables: security events here, the audit
-- trail (audit 0001) and the ledger (ledger 0001) use it too.
create or replace function logs._refuse_change() returns trigger
language plpgsql
-- security definer only so every trigger function on pgwarden's tables is one (R-19): it reads
-- nothing and only raises.
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception using errcode = 'PW421',
    message = pg_catalog.format('%I.%I is append-only: %s refused', tg_table_schema, tg_table_name, tg_op),
    hint = 'audit records, security events and ledger entries cannot be changed or removed through SQL';
end
$$;
revoke all on function logs._refuse_change() from public;

create or replace trigger notification_log_no_update before update on logs.notification_log
  for each row execute function logs._refuse_change();
create or replace trigger notification_log_no_delete before delete on logs.notification_log
  for each row execute function logs._refuse_change();
create or replace trigger notification_log_no_truncate before truncate on logs.notification_log
  for each statement execute function logs._refuse_change();

revoke update, delete, truncate on logs.notification_log from {{role:owner}};
