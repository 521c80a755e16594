-- core 0004: the end user's address on security events written by a pgwarden service.
--
-- client_addr is the address of the database connection, set by the server. Behind the auth
-- service that is always the service itself, which tells an investigator nothing about who
-- attacked. source_addr holds the address the service saw on the HTTP request. It is claimed by
-- the writer (only pgwarden's own security definer functions fill it), and documented as such.

alter table logs.notification_log add column if not exists source_addr inet;

comment on column logs.notification_log.source_addr is
  'end-user address as seen by the pgwarden service that handled the request: claimed by that service, not by the database';

create index if not exists notification_log_source_addr_idx
  on logs.notification_log (source_addr, occurred_at) where source_addr is not null;
