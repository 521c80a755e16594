-- monitor 0001: the security monitor's state. Alerts with their open / acknowledged / resolved
-- lifecycle, the durable delivery queue (one row per alert and sink, retried with backoff while a
-- sink is down), silences, where each source stopped (so a restarted monitor resumes without
-- repeats), learned per-user behaviour profiles, and the monitor's heartbeat (so an independent
-- watchdog notices a dead monitor).
--
-- The monitor learns of new security events through NOTIFY: a statement-level trigger on
-- logs.notification_log sends the highest new id on channel pgwarden_monitor. Only ids travel
-- (a payload is capped at 8000 bytes, and notifications are folded and lost while disconnected),
-- so the monitor always reads the rows themselves by id, and catches up by id after a reconnect.

create schema if not exists monitor authorization {{role:owner}};
revoke all on schema monitor from public;
comment on schema monitor is 'pgwarden: security monitor state (alerts, delivery queue, positions, profiles)';

create table monitor.alerts (
  id               bigint      generated always as identity primary key,
  rule_id          text        not null check (rule_id ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
  -- the group the rule counted by (rule id plus group values), so one incident is one alert
  dedupe_key       text        not null check (pg_catalog.length(dedupe_key) between 1 and 500),
  title            text        not null check (pg_catalog.length(title) between 1 and 300),
  severity         text        not null check (severity in ('low', 'medium', 'high', 'critical')),
  attack           text[]      not null default '{}',
  status           text        not null default 'open' check (status in ('open', 'acknowledged', 'resolved')),
  -- how many times the rule matched this incident (events beyond the threshold add to it)
  occurrences      bigint      not null default 1 check (occurrences >= 1),
  event_count      bigint      not null default 0 check (event_count >= 0),
  first_seen       timestamptz not null,
  last_seen        timestamptz not null,
  group_values     jsonb       not null default '{}' check (pg_catalog.jsonb_typeof(group_values) = 'object'),
  summary          text        not null default '',
  -- ids of the evidence events (`sec:<id>`, `log:…`), capped by the monitor
  evidence         text[]      not null default '{}',
  details          jsonb       not null default '{}' check (pg_catalog.jsonb_typeof(details) = 'object'),
  silenced         boolean     not null default false,
  notified_at      timestamptz,
  created_at       timestamptz not null default pg_catalog.clock_timestamp(),
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  resolved_at      timestamptz,
  resolved_by      text,
  check (last_seen >= first_seen)
);
alter table monitor.alerts owner to {{role:owner}};
-- one live alert per incident: a new one opens only once the last is resolved
create unique index alerts_live_key on monitor.alerts (rule_id, dedupe_key) where status <> 'resolved';
create index alerts_status_idx on monitor.alerts (status, last_seen desc);
create index alerts_last_seen_idx on monitor.alerts (last_seen desc);
comment on table monitor.alerts is 'pgwarden: one row per incident, with a counter; lifecycle open / acknowledged / resolved';

-- Every lifecycle change, append-only: who acknowledged or resolved what, when, and why.
create table monitor.alert_changes (
  id          bigint      generated always as identity primary key,
  alert_id    bigint      not null references monitor.alerts (id),
  changed_at  timestamptz not null default pg_catalog.clock_timestamp(),
  -- the application user the caller names (the dashboard's signed-in user), and the database
  -- login that made the call, which the caller cannot choose
  actor       text        not null,
  db_user     text        not null default session_user,
  old_status  text,
  new_status  text        not null,
  note        text        check (pg_catalog.length(note) <= 2000)
);
alter table monitor.alert_changes owner to {{role:owner}};
create index alert_changes_alert_idx on monitor.alert_changes (alert_id, id);

-- The delivery queue (an outbox written in the alert's transaction): one row per alert,
-- notification and sink. The monitor takes due rows FOR UPDATE SKIP LOCKED, sends, and marks
-- them delivered or schedules the next attempt; nothing is lost while a sink is down.
create table monitor.deliveries (
  id               bigint      generated always as identity primary key,
  alert_id         bigint      not null references monitor.alerts (id),
  sink             text        not null check (sink ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  -- what happened to the alert: a new incident, a reminder with a grown counter, or a lifecycle change
  action           text        not null check (action in ('trigger', 'update', 'acknowledge', 'resolve')),
  payload          jsonb       not null check (pg_catalog.jsonb_typeof(payload) = 'object'),
  state            text        not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
  attempts         integer     not null default 0 check (attempts >= 0),
  next_attempt_at  timestamptz not null default pg_catalog.clock_timestamp(),
  last_error       text        check (pg_catalog.length(last_error) <= 1000),
  created_at       timestamptz not null default pg_catalog.clock_timestamp(),
  delivered_at     timestamptz
);
alter table monitor.deliveries owner to {{role:owner}};
create index deliveries_due_idx on monitor.deliveries (next_attempt_at) where state = 'pending';
create index deliveries_alert_idx on monitor.deliveries (alert_id);

-- Silences: matching alerts are still stored and counted, but not sent.
create table monitor.silences (
  id          bigint      generated always as identity primary key,
  rule_id     text,
  -- group values that must all match (e.g. {"addr": "10.0.0.5"}); empty matches every group
  matchers    jsonb       not null default '{}' check (pg_catalog.jsonb_typeof(matchers) = 'object'),
  starts_at   timestamptz not null default pg_catalog.clock_timestamp(),
  ends_at     timestamptz not null,
  reason      text        not null check (pg_catalog.length(reason) between 1 and 500),
  created_by  text        not null default session_user,
  created_at  timestamptz not null default pg_catalog.clock_timestamp(),
  check (ends_at > starts_at)
);
alter table monitor.silences owner to {{role:owner}};

-- A silence mutes sinks: each one is a security event, so muting cannot go unnoticed.
-- security definer so every trigger function on pgwarden's tables is one (R-19).
create function monitor._silence_created() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform logs.log_event('monitor.silence_created', 'warning', new.created_by, new.rule_id, null,
    pg_catalog.jsonb_build_object('silence_id', new.id, 'rule_id', new.rule_id, 'matchers', new.matchers,
      'starts_at', new.starts_at, 'ends_at', new.ends_at, 'reason', pg_catalog.left(new.reason, 200)));
  return null;
end
$$;
alter function monitor._silence_created() owner to {{role:owner}};
revoke all on function monitor._silence_created() from public;
create trigger silences_logged after insert on monitor.silences
  for each row execute function monitor._silence_created();

-- Where each source stopped (a log file's identity and offset, the last security-event id …).
create table monitor.source_positions (
  source      text        primary key check (pg_catalog.length(source) between 1 and 200),
  position    jsonb       not null,
  updated_at  timestamptz not null default pg_catalog.clock_timestamp()
);
alter table monitor.source_positions owner to {{role:owner}};

-- Learned behaviour per principal (hours, addresses, tables, volumes, error rate) and the risk
-- score with its reasons, saved by the monitor so a restart keeps what it learned.
create table monitor.user_profiles (
  principal    text        primary key check (pg_catalog.length(principal) between 1 and 500),
  profile      jsonb       not null check (pg_catalog.jsonb_typeof(profile) = 'object'),
  risk_score   integer     not null default 0 check (risk_score between 0 and 100),
  risk_reasons jsonb       not null default '[]' check (pg_catalog.jsonb_typeof(risk_reasons) = 'array'),
  updated_at   timestamptz not null default pg_catalog.clock_timestamp()
);
alter table monitor.user_profiles owner to {{role:owner}};
create index user_profiles_risk_idx on monitor.user_profiles (risk_score desc);

-- One row per running monitor; the watchdog alerts when beat_at grows old.
create table monitor.heartbeats (
  instance    text        primary key check (pg_catalog.length(instance) between 1 and 200),
  started_at  timestamptz not null,
  beat_at     timestamptz not null default pg_catalog.clock_timestamp(),
  details     jsonb       not null default '{}' check (pg_catalog.jsonb_typeof(details) = 'object')
);
alter table monitor.heartbeats owner to {{role:owner}};

-- Approved change windows (M-07: privilege changes "outside an approved migration" alert). A
-- security admin approves, ahead of time, that one principal (a database role such as the
-- migration runner, or an application user) makes privilege and policy changes during a bounded
-- time; the rules that honour windows (docs/monitor.md) stay quiet for that principal then. Rows
-- change only through monitor.open_change_window() / close_change_window(), each logged as a
-- security event, so an approval can neither be hidden nor backdated.
create table monitor.change_windows (
  id           bigint      generated always as identity primary key,
  principal    text        not null check (pg_catalog.length(principal) between 1 and 200),
  starts_at    timestamptz not null,
  ends_at      timestamptz not null,
  reason       text        not null check (pg_catalog.length(reason) between 3 and 500),
  ticket       text        check (pg_catalog.length(ticket) between 1 and 200),
  -- the person named by the caller, and the database login that made the call
  approver     text        not null check (pg_catalog.length(approver) between 1 and 200),
  approved_by  text        not null default session_user,
  created_at   timestamptz not null default pg_catalog.clock_timestamp(),
  closed_at    timestamptz,
  closed_by    text,
  check (ends_at > starts_at),
  check (ends_at - starts_at <= interval '24 hours')
);
alter table monitor.change_windows owner to {{role:owner}};
create index change_windows_open_idx on monitor.change_windows (ends_at) where closed_at is null;
comment on table monitor.change_windows is 'pgwarden: approved change windows (a principal, a time range, who approved it and why)';

-- Opens a change window. Refuses (PW608) a window that is not ahead of time (it may start at most
-- 5 minutes in the past), lasts more than 24 hours, has no reason, or covers the approving
-- principal itself: nobody approves their own changes.
create function monitor.open_change_window(p_principal text, p_starts_at timestamptz, p_ends_at timestamptz,
  p_reason text, p_approver text, p_ticket text default null)
returns monitor.change_windows
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  w monitor.change_windows;
  v_principal text := pg_catalog.btrim(p_principal);
begin
  if v_principal is null or pg_catalog.length(v_principal) not between 1 and 200 then
    raise exception using errcode = 'PW608', message = 'a change window needs the principal it covers (1 to 200 characters)';
  end if;
  if p_approver is null or pg_catalog.length(p_approver) not between 1 and 200 then
    raise exception using errcode = 'PW608', message = 'a change window needs the approving user (1 to 200 characters)';
  end if;
  if p_reason is null or pg_catalog.length(pg_catalog.btrim(p_reason)) not between 3 and 500 then
    raise exception using errcode = 'PW608', message = 'a change window needs a reason (3 to 500 characters)';
  end if;
  if pg_catalog.lower(v_principal) in (pg_catalog.lower(session_user), pg_catalog.lower(p_approver)) then
    raise exception using errcode = 'PW608', message = 'a change window cannot be approved by the principal it covers',
      hint = 'another security admin approves the window';
  end if;
  if p_starts_at is null or p_ends_at is null or p_ends_at <= p_starts_at then
    raise exception using errcode = 'PW608', message = 'a change window needs a start before its end';
  end if;
  if p_starts_at < pg_catalog.clock_timestamp() - interval '5 minutes' then
    raise exception using errcode = 'PW608', message = 'a change window cannot start in the past',
      hint = 'approve windows ahead of the change; past changes keep their alerts';
  end if;
  if p_ends_at - p_starts_at > interval '24 hours' then
    raise exception using errcode = 'PW608', message = 'a change window lasts at most 24 hours';
  end if;
  insert into monitor.change_windows (principal, starts_at, ends_at, reason, ticket, approver)
  values (v_principal, p_starts_at, p_ends_at, pg_catalog.btrim(p_reason), p_ticket, p_approver)
  returning * into w;
  perform logs.log_event('monitor.change_window_opened', 'warning', p_approver, v_principal, null,
    pg_catalog.jsonb_build_object('window_id', w.id, 'principal', w.principal, 'starts_at', w.starts_at,
      'ends_at', w.ends_at, 'reason', pg_catalog.left(w.reason, 200), 'ticket', w.ticket,
      'approved_by', w.approved_by));
  return w;
end
$$;
alter function monitor.open_change_window(text, timestamptz, timestamptz, text, text, text) owner to {{role:owner}};
revoke all on function monitor.open_change_window(text, timestamptz, timestamptz, text, text, text) from public;

-- Ends a change window early (PW608 for an unknown or already closed one).
create function monitor.close_change_window(p_id bigint, p_actor text)
returns monitor.change_windows
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  w monitor.change_windows;
begin
  if p_actor is null or pg_catalog.length(p_actor) not between 1 and 200 then
    raise exception using errcode = 'PW608', message = 'closing a change window needs the acting user (1 to 200 characters)';
  end if;
  update monitor.change_windows
     set closed_at = pg_catalog.clock_timestamp(), closed_by = p_actor
   where id = p_id and closed_at is null
  returning * into w;
  if not found then
    raise exception using errcode = 'PW608', message = pg_catalog.format('change window %s does not exist or is closed', p_id);
  end if;
  perform logs.log_event('monitor.change_window_closed', 'notice', p_actor, w.principal, null,
    pg_catalog.jsonb_build_object('window_id', w.id, 'principal', w.principal, 'closed_by', session_user));
  return w;
end
$$;
alter function monitor.close_change_window(bigint, text) owner to {{role:owner}};
revoke all on function monitor.close_change_window(bigint, text) from public;

-- The rule engine's open windows and incidents, saved by a monitor at shutdown so an attack that
-- spans a restart is still counted whole (one row per monitor instance).
create table monitor.rule_state (
  instance  text        primary key check (pg_catalog.length(instance) between 1 and 200),
  saved_at  timestamptz not null default pg_catalog.clock_timestamp(),
  state     jsonb       not null check (pg_catalog.jsonb_typeof(state) = 'object')
);
alter table monitor.rule_state owner to {{role:owner}};

-- security definer so every trigger function on pgwarden's tables is one (R-19). Sends only the
-- highest new id: the listener reads rows by id, so folded or lost notifications lose nothing.
create function monitor._notify_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_max bigint;
begin
  select pg_catalog.max(n.id) into v_max from new_events n;
  -- A listener that stopped consuming fills the notification queue, and a full queue fails the
  -- writer's COMMIT: a stuck monitor must not stop logins. Past 90 % the notification is left
  -- out; the monitor's poll by id finds the rows anyway, and it alerts on the queue's pressure.
  if v_max is not null and pg_catalog.pg_notification_queue_usage() < 0.9 then
    perform pg_catalog.pg_notify('pgwarden_monitor', v_max::text);
  end if;
  return null;
end
$$;
alter function monitor._notify_events() owner to {{role:owner}};
revoke all on function monitor._notify_events() from public;

create trigger notification_log_notify_monitor after insert on logs.notification_log
  referencing new table as new_events
  for each statement execute function monitor._notify_events();

-- Moves an alert along its lifecycle and records who did it. security definer so the dashboard's
-- users (security_admin) change status through this one path, which refuses a move backwards
-- (PW600) and an unknown alert (PW601), and writes the change and a security event.
create function monitor.set_alert_status(p_alert_id bigint, p_status text, p_actor text, p_note text default null)
returns monitor.alerts
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  a monitor.alerts;
  v_old text;
begin
  if p_status not in ('acknowledged', 'resolved') then
    raise exception using errcode = 'PW600', message = 'an alert can only be acknowledged or resolved',
      detail = pg_catalog.format('requested status %s', p_status);
  end if;
  if p_actor is null or pg_catalog.length(p_actor) not between 1 and 200 then
    raise exception using errcode = 'PW600', message = 'an alert status change needs the acting user (1 to 200 characters)';
  end if;
  select * into a from monitor.alerts where id = p_alert_id for update;
  if not found then
    raise exception using errcode = 'PW601', message = pg_catalog.format('alert %s does not exist', p_alert_id);
  end if;
  v_old := a.status;
  if v_old = 'resolved' or (v_old = 'acknowledged' and p_status = 'acknowledged') then
    raise exception using errcode = 'PW600',
      message = pg_catalog.format('alert %s is already %s', p_alert_id, v_old),
      hint = 'a resolved alert stays resolved; a new occurrence opens a new alert';
  end if;
  update monitor.alerts set
    status = p_status,
    acknowledged_at = case when p_status = 'acknowledged' then pg_catalog.clock_timestamp() else acknowledged_at end,
    acknowledged_by = case when p_status = 'acknowledged' then p_actor else acknowledged_by end,
    resolved_at = case when p_status = 'resolved' then pg_catalog.clock_timestamp() else resolved_at end,
    resolved_by = case when p_status = 'resolved' then p_actor else resolved_by end
  where id = p_alert_id
  returning * into a;
  insert into monitor.alert_changes (alert_id, actor, old_status, new_status, note)
  values (p_alert_id, p_actor, v_old, p_status, p_note);
  perform logs.log_event('monitor.alert_' || p_status, 'info', p_actor, a.rule_id, null,
    pg_catalog.jsonb_build_object('alert_id', a.id, 'old_status', v_old, 'severity', a.severity));
  return a;
end
$$;
alter function monitor.set_alert_status(bigint, text, text, text) owner to {{role:owner}};
revoke all on function monitor.set_alert_status(bigint, text, text, text) from public;

-- security definer: the request layer's reporter (a security_admin login) records events about
-- requests it refused with the end user's address as source_addr, which logs.log_event() cannot
-- set (the database only knows the reporter's own connection). Limited to the request layer's
-- event types (context.*), so the address claim cannot be attached to other kinds of event.
create function monitor.log_request_event(p_event_type text, p_severity text, p_source inet, p_details jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id bigint;
begin
  if p_event_type is null or p_event_type !~ '^context\.[a-z0-9_.-]{1,90}$' then
    raise exception using errcode = 'PW603', message = 'only request-layer events (context.*) may carry a source address',
      detail = pg_catalog.format('event type %s', pg_catalog.left(p_event_type, 100));
  end if;
  insert into logs.notification_log
    (event_type, severity, actor, client_addr, application_name, details, source_addr)
  values
    (p_event_type, coalesce(p_severity, 'warning'), session_user, pg_catalog.inet_client_addr(),
     pg_catalog.current_setting('application_name', true), coalesce(p_details, '{}'::jsonb), p_source)
  returning id into v_id;
  return v_id;
end
$$;
alter function monitor.log_request_event(text, text, inet, jsonb) owner to {{role:owner}};
revoke all on function monitor.log_request_event(text, text, inet, jsonb) from public;

-- Seconds since a monitor last beat (NULL when none ever did): what the watchdog reads.
create function monitor.heartbeat_age(p_instance text default null) returns double precision
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
  select extract(epoch from pg_catalog.clock_timestamp() - pg_catalog.max(h.beat_at))::double precision
  from monitor.heartbeats h
  where p_instance is null or h.instance = p_instance
$$;
alter function monitor.heartbeat_age(text) owner to {{role:owner}};
revoke all on function monitor.heartbeat_age(text) from public;

-- Grants for this module, in one place. security_admin runs the monitor and works the alerts;
-- auditor reads them. Request roles get nothing.
grant usage on schema monitor to {{role:auditor}}, {{role:security_admin}};
grant select on monitor.alerts, monitor.alert_changes, monitor.silences, monitor.user_profiles,
  monitor.heartbeats, monitor.change_windows to {{role:auditor}};
-- The lifecycle columns of an alert (status, who acknowledged or resolved it, when) change only
-- through monitor.set_alert_status(), which records each change and logs it; the monitor may
-- write an alert's counters and description but not its status, and may not write its history.
grant select on monitor.alerts, monitor.alert_changes to {{role:security_admin}};
grant insert (rule_id, dedupe_key, title, severity, attack, occurrences, event_count, first_seen, last_seen,
  group_values, summary, evidence, details, silenced, notified_at) on monitor.alerts to {{role:security_admin}};
grant update (occurrences, event_count, first_seen, last_seen, summary, evidence, details, title, severity,
  attack, silenced, notified_at) on monitor.alerts to {{role:security_admin}};
grant select, insert, update on monitor.deliveries, monitor.source_positions, monitor.user_profiles,
  monitor.heartbeats to {{role:security_admin}};
grant select, insert, delete on monitor.silences to {{role:security_admin}};
grant delete on monitor.heartbeats to {{role:security_admin}};
grant select on monitor.change_windows to {{role:security_admin}};
grant select, insert, update, delete on monitor.rule_state to {{role:security_admin}};
grant execute on function monitor.open_change_window(text, timestamptz, timestamptz, text, text, text),
  monitor.close_change_window(bigint, text) to {{role:security_admin}};
grant execute on function monitor.set_alert_status(bigint, text, text, text) to {{role:security_admin}};
grant execute on function monitor.heartbeat_age(text) to {{role:auditor}}, {{role:security_admin}};
grant execute on function monitor.log_request_event(text, text, inet, jsonb) to {{role:security_admin}};
