-- pgTAP: core's grants seen by each persona (the suite runs this where pgTAP is installed,
-- inside a transaction that is rolled back). Role names use the test prefix pgw_.
select plan(14);

select has_schema('pgwarden');
select has_schema('logs');
select has_table('logs', 'notification_log', 'the security-event log exists');
select has_function('logs', 'log_event', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid']);
select is_definer('logs', 'log_event', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid'], 'log_event is security definer');
select function_owner_is('logs', 'log_event', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid'], 'pgw_owner');
select isnt_superuser('pgw_owner');
select isnt_superuser('pgw_authenticator');

set local role pgw_anon;
select throws_ok('select count(*) from logs.notification_log', '42501', null, 'denies anon reading security events');
reset role;

set local role pgw_auditor;
select lives_ok('select count(*) from logs.notification_log', 'allows auditor reading security events');
select throws_ok($$delete from logs.notification_log$$, '42501', null, 'denies auditor deleting security events');
reset role;

set local role pgw_app_user;
select throws_ok($$select logs.log_event('forged.event')$$, '42501', null, 'denies app_user writing events directly');
reset role;

set local role pgw_security_admin;
select lives_ok($$select logs.log_event('test.event')$$, 'allows security_admin appending an event');
select throws_ok($$update logs.notification_log set severity = 'debug'$$, '42501', null, 'denies security_admin rewriting events');
reset role;

select * from finish();
