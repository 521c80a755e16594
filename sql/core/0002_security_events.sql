-- core 0002: logs.notification_log, the security-event log, and logs.log_event(), its one writer.
--
-- Every security-relevant event (auth successes and failures, lockouts, admin actions, installs,
-- DDL and privilege changes) lands here. Later modules write through logs.log_event(); the audit
-- module seals these rows into the tamper-evident ledger. The table is retained by uninstall.

create table if not exists logs.notification_log (
  id                 bigint      generated always as identity primary key,
  occurred_at        timestamptz not null default pg_catalog.clock_timestamp(),
  event_type         text        not null check (event_type ~ '^[a-z][a-z0-9_.-]{0,99}$'),
  severity           text        not null default 'info'
                                 check (severity in ('debug', 'info', 'notice', 'warning', 'error', 'critical')),
  actor              text,
  subject            text,
  tenant             text,
  client_addr        inet,
  application_name   text,
  session_id         uuid,
  details            jsonb       not null default '{}'::jsonb check (pg_catalog.jsonb_typeof(details) = 'object')
);
create index if not exists notification_log_occurred_at_idx on logs.notification_log (occurred_at);
create index if not exists notification_log_event_type_idx on logs.notification_log (event_type, occurred_at);
comment on table logs.notification_log is 'pgwarden: security events; append through logs.log_event()';

insert into pgwarden.retained_tables (schema_name, table_name, module)
values ('logs', 'notification_log', 'core')
on conflict do nothing;

-- security definer: callers (the per-request roles, the auth functions) may append events but
-- hold no privilege on the table itself. The server fills occurred_at, the client address and
-- the application name, so a caller cannot backdate an event or claim another origin.
create or replace function logs.log_event(
  event_type  text,
  severity    text default 'info',
  actor       text default null,
  subject     text default null,
  tenant      text default null,
  details     jsonb default '{}'::jsonb,
  session_id  uuid default null
) returns bigint
language sql
volatile
security definer
set search_path = ''
as $$
  insert into logs.notification_log
    (event_type, severity, actor, subject, tenant, client_addr, application_name, session_id, details)
  values
    (event_type, severity, coalesce(actor, session_user::text), subject, tenant,
     pg_catalog.inet_client_addr(), pg_catalog.current_setting('application_name', true),
     session_id, coalesce(details, '{}'::jsonb))
  returning id
$$;
comment on function logs.log_event(text, text, text, text, text, jsonb, uuid) is
  'pgwarden: append a security event; the server sets time, client address and application name';

-- Grants for this module, in one place.
grant usage on schema logs to {{role:auditor}}, {{role:security_admin}}, {{role:app_user}}, {{role:anon}};
grant select on logs.notification_log to {{role:auditor}}, {{role:security_admin}};
grant execute on function logs.log_event(text, text, text, text, text, jsonb, uuid) to {{role:security_admin}};
