-- audit 0003: who may do what. Request roles (anon, app_user, authenticator) get nothing here:
-- their changes are captured by the trigger, which needs no privilege of theirs.
--
--   security_admin  enables and disables capture (it also needs TRIGGER on the table, or to own
--                   it to disable); reads the trail.
--   auditor         reads the trail and the list of audited tables.

grant usage on schema audit to {{role:auditor}}, {{role:security_admin}};
grant select on audit.row_changes, audit.audited_tables to {{role:auditor}}, {{role:security_admin}};
grant execute on function
  audit.enable(regclass, text[], text[], text),
  audit.disable(regclass),
  audit._register(regclass, text[], text[], boolean, text),
  audit._capture(),
  audit._drop_capture_triggers(regclass),
  audit.ensure_partitions(integer)
to {{role:security_admin}};
