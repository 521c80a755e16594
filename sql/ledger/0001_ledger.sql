-- ledger 0001: the tamper-evident ledger over the audit trail (advanced tier).
--
-- The sealer (pgwarden's Node library, `pgwarden audit seal`, and `pgwarden up`) appends every
-- committed audit.row_changes and logs.notification_log row, in (txid, source, id) order, as a
-- leaf of an RFC 6962 Merkle tree, and signs a checkpoint (C2SP signed note) of each new tree
-- head. Leaf hashes are computed outside the database over a canonical encoding of the whole
-- row; the database only stores them, so a superuser who rewrites a row, an entry or a hash is
-- found by recomputing the tree against a signed checkpoint it cannot forge (the signing keys are
-- sealed under a master key the database never sees).
--
-- Everything here is append-only like the trail itself (PW421), except ledger.state, the
-- sealer's cursor, which only moves forward (checked by trigger).

create schema if not exists ledger authorization {{role:owner}};
revoke all on schema ledger from public;
comment on schema ledger is 'pgwarden: Merkle ledger over the audit trail and security events';

-- One row per leaf, position = leaf index (0-based, contiguous).
create table ledger.entries (
  position     bigint      primary key check (position >= 0),
  source       smallint    not null check (source in (1, 2)),
  source_id    bigint      not null,
  txid         xid8        not null,
  recorded_at  timestamptz not null,
  leaf_hash    bytea       not null check (pg_catalog.octet_length(leaf_hash) = 32),
  sealed_at    timestamptz not null default pg_catalog.clock_timestamp(),
  unique (source, source_id)
);
alter table ledger.entries owner to {{role:owner}};
comment on table ledger.entries is
  'pgwarden: one Merkle leaf per sealed row; source 1 = audit.row_changes, 2 = logs.notification_log';
comment on column ledger.entries.recorded_at is
  'the source row''s time (recorded_at / occurred_at): tells archived partitions apart from deletions';

-- Signed tree heads, one per sealing run that appended leaves.
create table ledger.checkpoints (
  tree_size    bigint      primary key check (tree_size >= 0),
  root_hash    bytea       not null check (pg_catalog.octet_length(root_hash) = 32),
  note         text        not null,
  compact_range jsonb      not null,
  created_at   timestamptz not null default pg_catalog.clock_timestamp()
);
comment on column ledger.checkpoints.compact_range is
  'the Merkle frontier at this size: consistency proofs to witnesses start from it (they check it)';
alter table ledger.checkpoints owner to {{role:owner}};
comment on table ledger.checkpoints is 'pgwarden: signed checkpoints (C2SP signed notes) of the ledger tree';

-- What each witness said about a checkpoint (cosignature lines, or why it refused).
create table ledger.witness_receipts (
  id           bigint      generated always as identity primary key,
  tree_size    bigint      not null,
  witness      text        not null,
  accepted     boolean     not null,
  cosignatures text[]      not null default '{}',
  error_code   text,
  received_at  timestamptz not null default pg_catalog.clock_timestamp()
);
alter table ledger.witness_receipts owner to {{role:owner}};
comment on table ledger.witness_receipts is 'pgwarden: witness answers to the ledger''s checkpoints';

-- Checkpoint signing keys, private halves sealed (AES-256-GCM) under the master key.
create table ledger.signing_keys (
  key_name        text        not null,
  key_id          bigint      not null,
  algorithm       text        not null check (algorithm in ('ed25519', 'ml-dsa-65')),
  vkey            text        not null unique,
  private_sealed  bytea       not null,
  master_key_id   text        not null,
  added_at_size   bigint      not null,
  revoked_at_size bigint,
  created_at      timestamptz not null default pg_catalog.clock_timestamp(),
  primary key (key_name, key_id)
);
alter table ledger.signing_keys owner to {{role:owner}};
comment on table ledger.signing_keys is 'pgwarden: checkpoint signing keys (private halves sealed under the master key)';

-- Every version of the signed key history (pgwarden.key-history/v1 notes), newest last.
create table ledger.key_history (
  version      integer     primary key check (version >= 1),
  note         text        not null,
  created_at   timestamptz not null default pg_catalog.clock_timestamp()
);
alter table ledger.key_history owner to {{role:owner}};
comment on table ledger.key_history is 'pgwarden: signed history of the checkpoint signing keys';

-- The sealer's position: the tree so far (compact range) and the last sealed (txid, source, id).
create table ledger.state (
  singleton      boolean     primary key default true check (singleton),
  origin         text        not null check (origin ~ '^[!-~]{1,200}$' and pg_catalog.strpos(origin, '+') = 0),
  history_vkey   text        not null,
  tree_size      bigint      not null default 0 check (tree_size >= 0),
  compact_range  jsonb       not null default '{"size": 0, "hashes": []}',
  cursor_txid    xid8        not null default '0',
  cursor_source  smallint    not null default 0,
  cursor_id      bigint      not null default 0,
  updated_at     timestamptz not null default pg_catalog.clock_timestamp()
);
alter table ledger.state owner to {{role:owner}};
comment on table ledger.state is 'pgwarden: the ledger sealer''s cursor and Merkle frontier (one row)';


-- The cursor and the tree only move forward; the origin never changes.
create function ledger._state_forward() returns trigger
language plpgsql
-- security definer only so every trigger function on pgwarden's tables is one (R-19): it
-- reads nothing and only raises or checks NEW.
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.origin <> old.origin or new.history_vkey <> old.history_vkey or new.tree_size < old.tree_size
     or (new.cursor_txid, new.cursor_source, new.cursor_id) < (old.cursor_txid, old.cursor_source, old.cursor_id) then
    raise exception using errcode = 'PW421', message = 'the ledger state only moves forward';
  end if;
  new.updated_at := pg_catalog.clock_timestamp();
  return new;
end
$$;
alter function ledger._state_forward() owner to {{role:owner}};
revoke all on function ledger._state_forward() from public;

create trigger state_forward before update on ledger.state for each row execute function ledger._state_forward();
create trigger state_no_delete before delete on ledger.state for each row execute function logs._refuse_change();
create trigger state_no_truncate before truncate on ledger.state for each statement execute function logs._refuse_change();
create trigger entries_no_update before update on ledger.entries for each row execute function logs._refuse_change();
create trigger entries_no_delete before delete on ledger.entries for each row execute function logs._refuse_change();
create trigger entries_no_truncate before truncate on ledger.entries for each statement execute function logs._refuse_change();
create trigger checkpoints_no_update before update on ledger.checkpoints for each row execute function logs._refuse_change();
create trigger checkpoints_no_delete before delete on ledger.checkpoints for each row execute function logs._refuse_change();
create trigger checkpoints_no_truncate before truncate on ledger.checkpoints for each statement execute function logs._refuse_change();
create trigger receipts_no_update before update on ledger.witness_receipts for each row execute function logs._refuse_change();
create trigger receipts_no_delete before delete on ledger.witness_receipts for each row execute function logs._refuse_change();
create trigger key_history_no_update before update on ledger.key_history for each row execute function logs._refuse_change();
create trigger key_history_no_delete before delete on ledger.key_history for each row execute function logs._refuse_change();
create trigger key_history_no_truncate before truncate on ledger.key_history for each statement execute function logs._refuse_change();
create trigger receipts_no_truncate before truncate on ledger.witness_receipts for each statement execute function logs._refuse_change();
create trigger signing_keys_no_delete before delete on ledger.signing_keys for each row execute function logs._refuse_change();
create trigger signing_keys_no_truncate before truncate on ledger.signing_keys for each statement execute function logs._refuse_change();
revoke update, delete, truncate on ledger.entries, ledger.checkpoints, ledger.witness_receipts, ledger.key_history
  from {{role:owner}};
revoke update, delete, truncate on ledger.state from {{role:owner}};
revoke delete, truncate on ledger.signing_keys from {{role:owner}};

-- Who may do what: security_admin runs the sealer (it reads the trail and appends to the
-- ledger); auditor reads everything but the sealed private keys.
grant usage on schema ledger to {{role:auditor}}, {{role:security_admin}};
grant select on ledger.entries, ledger.checkpoints, ledger.witness_receipts, ledger.key_history, ledger.state
  to {{role:auditor}}, {{role:security_admin}};
grant select (key_name, key_id, algorithm, vkey, added_at_size, revoked_at_size, created_at) on ledger.signing_keys
  to {{role:auditor}};
grant select, insert, update (revoked_at_size) on ledger.signing_keys to {{role:security_admin}};
grant insert on ledger.entries, ledger.checkpoints, ledger.witness_receipts, ledger.key_history, ledger.state
  to {{role:security_admin}};
grant update on ledger.state to {{role:security_admin}};
