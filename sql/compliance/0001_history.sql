-- compliance 0001: the scan history. Each `pgwarden check --save` run is one row of
-- compliance.scan_runs (score, summary and the whole report) and one row of
-- compliance.scan_findings per finding, so auditors can query trends and render the compliance
-- report from the database.
--
-- The scan itself stays read-only; saving is a separate step, one transaction per run, by a login
-- holding security_admin. Saved runs are evidence: append-only for every role, the owner included
-- (UPDATE, DELETE and TRUNCATE revoked, and refused by trigger, PW421, should a grant come back).
-- Saving a run also writes a compliance.scan_saved security event carrying the sha256 of the
-- stored report: where the ledger seals events (advanced tier), a report rewritten later by a
-- superuser no longer matches its sealed event.

create schema if not exists compliance authorization {{role:owner}};
revoke all on schema compliance from public;
comment on schema compliance is 'pgwarden: compliance scan history (append-only)';

create table compliance.scan_runs (
  id              bigint      generated always as identity primary key,
  -- when the scan started, as the scanner's clock saw it (the report's startedAt)
  started_at      timestamptz not null check (pg_catalog.isfinite(started_at)),
  saved_at        timestamptz not null default pg_catalog.clock_timestamp(),
  -- the login that saved the run, set by the server
  saved_by        text        not null default session_user,
  target          text        not null check (pg_catalog.length(target) between 1 and 1000),
  database        text        not null,
  server_version  text        not null,
  tool_version    text        not null,
  score           integer     not null check (score between 0 and 100),
  summary         jsonb       not null check (pg_catalog.jsonb_typeof(summary) = 'object'),
  report          jsonb       not null check (pg_catalog.jsonb_typeof(report) = 'object')
);
alter table compliance.scan_runs owner to {{role:owner}};
create index scan_runs_target_idx on compliance.scan_runs (target, started_at desc, id desc);
create index scan_runs_started_idx on compliance.scan_runs (started_at desc, id desc);
comment on table compliance.scan_runs is 'pgwarden: one row per saved compliance scan; append-only (PW421)';

-- No foreign key to scan_runs: its check locks the run FOR KEY SHARE, which needs the UPDATE
-- privilege the owner gives up below. saveScan() writes a run and its findings in one transaction.
create table compliance.scan_findings (
  run_id       bigint  not null,
  -- the finding's place in the report (findings of one check and object may repeat)
  ordinal      integer not null check (ordinal >= 1),
  check_id     text    not null,
  severity     text    not null check (severity in ('critical', 'high', 'medium', 'low', 'info')),
  object       text,
  fingerprint  text    not null check (fingerprint ~ '^[0-9a-f]{32}$'),
  status       text    not null check (status in ('open', 'suppressed')),
  message      text    not null,
  primary key (run_id, ordinal)
);
alter table compliance.scan_findings owner to {{role:owner}};
create index scan_findings_check_idx on compliance.scan_findings (check_id, run_id);
create index scan_findings_fingerprint_idx on compliance.scan_findings (fingerprint, run_id);
comment on table compliance.scan_findings is 'pgwarden: the findings of each saved scan, for querying; append-only (PW421)';

-- security definer so every trigger function on pgwarden's tables is one (R-19), and so the
-- event is written whoever saves: it reads only the new row.
create function compliance._scan_saved() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform logs.log_event('compliance.scan_saved', 'info', null, new.target, null,
    pg_catalog.jsonb_build_object('run_id', new.id, 'database', new.database, 'score', new.score,
      'started_at', new.started_at,
      'report_sha256', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(new.report::text, 'UTF8')), 'hex')));
  return null;
end
$$;
alter function compliance._scan_saved() owner to {{role:owner}};
revoke all on function compliance._scan_saved() from public;

create trigger scan_runs_saved after insert on compliance.scan_runs
  for each row execute function compliance._scan_saved();
create trigger scan_runs_no_update before update on compliance.scan_runs
  for each row execute function logs._refuse_change();
create trigger scan_runs_no_delete before delete on compliance.scan_runs
  for each row execute function logs._refuse_change();
create trigger scan_runs_no_truncate before truncate on compliance.scan_runs
  for each statement execute function logs._refuse_change();
create trigger scan_findings_no_update before update on compliance.scan_findings
  for each row execute function logs._refuse_change();
create trigger scan_findings_no_delete before delete on compliance.scan_findings
  for each row execute function logs._refuse_change();
create trigger scan_findings_no_truncate before truncate on compliance.scan_findings
  for each statement execute function logs._refuse_change();
revoke update, delete, truncate on compliance.scan_runs, compliance.scan_findings from {{role:owner}};

-- Grants: security_admin saves runs (and reads them back); auditor reads. Request roles get nothing.
grant usage on schema compliance to {{role:auditor}}, {{role:security_admin}};
grant select on compliance.scan_runs, compliance.scan_findings to {{role:auditor}}, {{role:security_admin}};
grant insert on compliance.scan_runs, compliance.scan_findings to {{role:security_admin}};
