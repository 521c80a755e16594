-- core 0003: record, next to each security event, the database login the server saw.
--
-- logs.log_event() takes `actor` from its caller: an application passes the end user it acts
-- for, which the database cannot verify. `db_user` is set by the server alone (session_user, the
-- role that logged in), so an event always says which login wrote it, whatever actor it claims.
-- `application_name` is what the client reported, and is documented as such.

alter table logs.notification_log add column if not exists db_user text;
alter table logs.notification_log alter column db_user set default session_user;

comment on column logs.notification_log.actor is
  'who the caller says acted (an application user id, an e-mail): claimed by the caller, not verified';
comment on column logs.notification_log.db_user is
  'the database login that wrote the event (session_user), set by the server';
comment on column logs.notification_log.application_name is
  'application_name as reported by the client connection';
comment on column logs.notification_log.client_addr is
  'client address of the connection that wrote the event (inet_client_addr()), set by the server';
comment on column logs.notification_log.occurred_at is
  'server clock time (clock_timestamp()) when the event was written';

-- security definer: as in 0002, callers append events without any privilege on the table. The
-- server fills occurred_at, client_addr and db_user; the caller cannot set them.
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
set search_path = pg_catalog, pg_temp
as $$
  insert into logs.notification_log
    (event_type, severity, actor, subject, tenant, client_addr, application_name, session_id, details, db_user)
  values
    (event_type, severity, coalesce(actor, session_user::text), subject, tenant,
     pg_catalog.inet_client_addr(), pg_catalog.current_setting('application_name', true),
     session_id, coalesce(details, '{}'::jsonb), session_user::text)
  returning id
$$;
