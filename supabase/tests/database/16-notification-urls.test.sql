-- Notification URLs and outcomes (finding 7): API callers cannot register endpoints that
-- point inside (the database's share of the outbound rules), direct sessions (the CLI, which
-- checks in TypeScript with its allow-list) can; `last_error` holds a reason, never a body,
-- and earlier bodies are rewritten away by the migration.
begin;
\ir _setup.psql
select plan(25);

insert into ops.environments (name, kind) values ('zz-urls', 'staging');

-- The rule on its own ------------------------------------------------------------------------------

select is(private.notification_url_refusal('https://hooks.slack.com/services/T0/B0/x'), null,
  'a public https host passes');
select is(private.notification_url_refusal('https://Hooks.Example.COM./in?x=1'), null,
  'case and a trailing dot do not matter');
select is(private.notification_url_refusal('http://hooks.example.com/'), 'the URL is not https',
  'http is refused');
select results_eq(
  $$select u, private.notification_url_refusal(u) from unnest(array[
      'https://127.0.0.1/', 'https://0x7f000001/', 'https://2130706433/', 'https://0177.0.0.1/',
      'https://127.1:8443/', 'https://169.254.169.254/latest', 'https://10.0.0.1/',
      'https://[::1]/', 'https://[::ffff:127.0.0.1]/', 'https://u:p@[fd00::1]/'
    ]) as u$$,
  $$values
      ('https://127.0.0.1/', 'host 127.0.0.1 is an IP address (name the receiver by its DNS name)'),
      ('https://0x7f000001/', 'host 0x7f000001 is an IP address (name the receiver by its DNS name)'),
      ('https://2130706433/', 'host 2130706433 is an IP address (name the receiver by its DNS name)'),
      ('https://0177.0.0.1/', 'host 0177.0.0.1 is an IP address (name the receiver by its DNS name)'),
      ('https://127.1:8443/', 'host 127.1 is an IP address (name the receiver by its DNS name)'),
      ('https://169.254.169.254/latest', 'host 169.254.169.254 is an IP address (name the receiver by its DNS name)'),
      ('https://10.0.0.1/', 'host 10.0.0.1 is an IP address (name the receiver by its DNS name)'),
      ('https://[::1]/', 'host [::1] is an IP address (name the receiver by its DNS name)'),
      ('https://[::ffff:127.0.0.1]/', 'host [::ffff:127.0.0.1] is an IP address (name the receiver by its DNS name)'),
      ('https://u:p@[fd00::1]/', 'host [fd00::1] is an IP address (name the receiver by its DNS name)')$$,
  'IP literals are refused in every numeric form a URL parser reads as an address'
);
select results_eq(
  $$select u, private.notification_url_refusal(u) from unnest(array[
      'https://localhost/', 'https://api.localhost./', 'https://printer.local/',
      'https://metadata.google.internal/', 'https://nas.home.arpa/', 'https://metadata/',
      'https://%31%32%37.0.0.1/', 'https://ｅｘａｍｐｌｅ.com/'
    ]) as u$$,
  $$values
      ('https://localhost/', 'host localhost is a local name'),
      ('https://api.localhost./', 'host api.localhost is a local name'),
      ('https://printer.local/', 'host printer.local is a local name'),
      ('https://metadata.google.internal/', 'host metadata.google.internal is a local name'),
      ('https://nas.home.arpa/', 'host nas.home.arpa is a local name'),
      ('https://metadata/', 'host metadata is a single-label name (completed by local search domains)'),
      ('https://%31%32%37.0.0.1/', 'host %31%32%37.0.0.1 is not a DNS name of letters, digits and hyphens (write international names as xn--)'),
      ('https://ｅｘａｍｐｌｅ.com/', 'host ｅｘａｍｐｌｅ.com is not a DNS name of letters, digits and hyphens (write international names as xn--)')$$,
  'local names, single labels, and hosts a URL parser would rewrite are refused'
);
select is(private.notification_url_refusal('https://localhost.example.com/'), null,
  'a name merely containing "localhost" is an ordinary name');

-- As an admin (an API caller) ----------------------------------------------------------------------

select pg_temp.act_as('admin');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'loop', 'webhook', 'http://127.0.0.1:8080/hook')$$,
  '23514', 'Cannot add notification endpoint loop: the URL is not https',
  'an admin cannot register an http URL'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'loop', 'webhook', 'https://0x7f000001/')$$,
  '23514', 'Cannot add notification endpoint loop: host 0x7f000001 is an IP address (name the receiver by its DNS name)',
  'an admin cannot register a numeric loopback host'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'imds', 'slack', 'https://169.254.169.254/latest/meta-data/')$$,
  '23514', null, 'an admin cannot register the metadata address'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'v6', 'slack', 'https://[::1]:8443/')$$,
  '23514', null, 'an admin cannot register an IPv6 loopback'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'lh', 'slack', 'https://localhost/')$$,
  '23514', 'Cannot add notification endpoint lh: host localhost is a local name',
  'an admin cannot register localhost'
);
select results_eq(
  $$select created from ops.add_notification_endpoint('zz-urls', 'ok', 'webhook', 'https://hooks.example.test/in')$$,
  $$values (true)$$,
  'an admin registers an https URL of a DNS name'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'ok', 'webhook', 'https://10.0.0.1/in')$$,
  '23514', 'Cannot change notification endpoint ok: host 10.0.0.1 is an IP address (name the receiver by its DNS name)',
  'an admin cannot re-point an endpoint inside either'
);
select lives_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'ok', 'webhook', 'https://hooks.example.test/in', array['promotion.failed'])$$,
  'changing only the events of an endpoint is not a URL change'
);
reset role;
select is(
  (select count(*)::int from ops.notification_endpoints where environment = 'zz-urls'),
  1,
  'nothing refused was written'
);

select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-urls', 'svc', 'slack', 'https://127.0.0.1/')$$,
  '23514', null, 'the service role is held to the same rule'
);
reset role;

-- As a direct database session (the CLI, which applies the TypeScript rules and allow-list) --------

select set_config('request.jwt.claims', '', true); -- no claims at all, as a psql or CLI session
select results_eq(
  $$select created from ops.add_notification_endpoint('zz-urls', 'dev', 'webhook', 'http://127.0.0.1:9/hook')$$,
  $$values (true)$$,
  'a direct session registers a development receiver (the CLI checked it against its allow-list)'
);

-- last_error holds a reason, never a body ----------------------------------------------------------

insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
select gen_random_uuid(), e.id, 'promotion.failed', '{}'::jsonb
from ops.notification_endpoints as e, generate_series(1, 6)
where e.environment = 'zz-urls' and e.name = 'ok';

create temp table t_rows as
select id, row_number() over (order by id) as n
from ops.notification_outbox as o
where o.endpoint_id = (select id from ops.notification_endpoints where environment = 'zz-urls' and name = 'ok');

select lives_ok(
  $$update ops.notification_outbox set last_error = 'http 500'
     where id = (select id from t_rows where n = 1)$$,
  'a status is a reason'
);
select lives_ok(
  $$update ops.notification_outbox set last_error = 'refused: address 127.0.0.1 is loopback (127.0.0.0/8)'
     where id = (select id from t_rows where n = 2)$$,
  'a refusal is a reason'
);
select throws_ok(
  $$update ops.notification_outbox set last_error = 'HTTP 500: {"AccessKeyId": "ASIA…"}'
     where id = (select id from t_rows where n = 3)$$,
  '23514', null, 'a response body cannot be stored'
);
select throws_ok(
  $$update ops.notification_outbox set last_error = 'http 200: ami-id instance-id'
     where id = (select id from t_rows where n = 3)$$,
  '23514', null, 'nothing may follow a status'
);

-- Re-running the migration rewrites bodies stored before it (here: put back without the check).
alter table ops.notification_outbox drop constraint notification_outbox_last_error_is_a_reason;
update ops.notification_outbox as o
   set last_error = v.text
  from t_rows as r
  join (values
    (3, 'HTTP 500: {"AccessKeyId": "ASIA…", "SecretAccessKey": "…"}'),
    (4, 'HTTP 302'),
    (5, 'Timeout: no response within 15000 ms'),
    (6, 'Network error: error sending request for url (https://hooks.example.test/…)')
  ) as v (n, text) on v.n = r.n
 where o.id = r.id;
\set QUIET on
\ir ../../migrations/20261202001000_blank_notification_response_bodies.sql
\set QUIET off

select results_eq(
  $$select r.n::int, o.last_error from t_rows as r join ops.notification_outbox as o on o.id = r.id order by r.n$$,
  $$values (1, 'http 500'),
           (2, 'refused: address 127.0.0.1 is loopback (127.0.0.0/8)'),
           (3, 'http 500'),
           (4, 'http 302: redirect not followed'),
           (5, 'timeout: no response within 15000 ms'),
           (6, 'network error: error sending request for url (https://hooks.example.test/…)')$$,
  'the migration keeps statuses and reasons and drops every stored body'
);
select ok(
  exists (select 1 from pg_constraint where conname = 'notification_outbox_last_error_is_a_reason'),
  'and puts the check back'
);
select is(
  (select count(*)::int from ops.notification_outbox where last_error ~ 'AccessKeyId'),
  0,
  'no body text is left anywhere in the outbox'
);

select pg_temp.act_as('viewer');
select is(
  (select count(*)::int from ops.notification_outbox
    where last_error is not null and last_error !~ '^(http [0-9]{3}|refused: |timeout: |network error: )'),
  0,
  'what a viewer reads is a reason'
);
reset role;

select * from finish();
rollback;
