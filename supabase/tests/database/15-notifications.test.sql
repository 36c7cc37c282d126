-- Notifications: endpoints (admins manage, members read, URL and signing secret readable by
-- no API role), the outbox written in the same transaction as each promotion transition, and
-- the worker's claim (service role only).
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(52);

insert into ops.environments (name, kind) values ('zz-notify', 'staging');

create temp table t_added as
select * from ops.add_notification_endpoint(
  'zz-notify', 'zz-hook', 'webhook', 'https://hooks.example.test/in/tok3n?key=s3cret', array['*']
);
grant select on t_added to anon, authenticated, service_role;
select ops.add_notification_endpoint('zz-notify', 'zz-chat', 'slack',
  'https://hooks.slack.test/services/T0/B0/s3cret', array['promotion.failed']);
select ops.add_notification_endpoint('zz-notify', 'zz-off', 'webhook', 'https://off.example.test/');
update ops.notification_endpoints set enabled = false where name = 'zz-off';

-- Adding endpoints (as a direct database session) ----------------------------------------------------

select results_eq(
  $$select created, changed, signing_secret ~ '^whsec_[A-Za-z0-9+/]{43}=$' from t_added$$,
  $$values (true, true, true)$$,
  'adding a webhook endpoint returns a fresh whsec_ secret of 32 random bytes, once'
);
select results_eq(
  $$select created, changed, signing_secret from ops.add_notification_endpoint(
      'zz-notify', 'zz-hook', 'webhook', 'https://hooks.example.test/in/tok3n?key=s3cret', array['*'])$$,
  $$values (false, false, null::text)$$,
  'adding the same endpoint again changes nothing and shows no secret'
);
select results_eq(
  $$select name, kind, url_hint, events, secret_ciphertext is not null
      from ops.notification_endpoints where environment = 'zz-notify' order by name$$,
  $$values ('zz-chat', 'slack', 'https://hooks.slack.test/…', array['promotion.failed'], false),
           ('zz-hook', 'webhook', 'https://hooks.example.test/…', array['*'], true),
           ('zz-off', 'webhook', 'https://off.example.test', array['*'], true)$$,
  'listings show scheme and host only; only webhook endpoints hold a signing secret'
);
select is(
  (select private.decrypt_config_secret(url_ciphertext) from ops.notification_endpoints where name = 'zz-hook'),
  'https://hooks.example.test/in/tok3n?key=s3cret',
  'the URL is stored encrypted and decrypts to what was given'
);
select ok(
  (select position(convert_to('s3cret', 'utf8') in url_ciphertext) = 0
          and position(convert_to('whsec_', 'utf8') in secret_ciphertext) = 0
     from ops.notification_endpoints where name = 'zz-hook'),
  'neither the URL nor the secret appears in plaintext in the row'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-nowhere', 'x', 'webhook', 'https://a.test/')$$,
  '23503', 'Cannot add notification endpoint x: environment zz-nowhere is not registered',
  'an unregistered environment is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'x', 'email', 'https://a.test/')$$,
  '23514', 'Cannot add notification endpoint x: kind email is not slack, webhook or github',
  'an unknown kind is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'x', 'webhook', 'ftp://a.test/')$$,
  '23514', 'Cannot add notification endpoint x: the URL is not an http(s) URL',
  'a non-http URL is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'x', 'webhook', 'https://u:p@a.test/')$$,
  '23514', null, 'a URL with user:password@ is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'x', 'webhook', 'https://a.test/', array['promotion.planned'])$$,
  '23514', null, 'an unknown event is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'zz-hook', 'slack', 'https://a.test/')$$,
  '23505', 'Cannot add notification endpoint zz-hook: it exists in zz-notify with kind webhook (remove it first)',
  'an existing name with another kind is refused'
);
select is(
  (select count(*)::int from ops.notification_endpoints where name = 'x'), 0,
  'refused additions wrote nothing'
);

-- The outbox follows promotion transitions, in the same transaction -------------------------------

select ops.create_promotion(pg_temp.plan_text('aa01', 'development', 'zz-notify', '{config}', 'low', 2),
                             null, '00000000-0000-4000-8000-00000000aa01');

select results_eq(
  $$select e.name, o.event_type, o.status, o.attempts
      from ops.notification_outbox as o join ops.notification_endpoints as e on e.id = o.endpoint_id
     where o.promotion_id = '00000000-0000-4000-8000-00000000aa01'$$,
  $$values ('zz-hook', 'promotion.approved', 'pending', 0)$$,
  'the insert (planned → approved) notifies the endpoint that wants every event, not the filtered or disabled ones'
);

select pg_temp.act_as('operator');
update ops.promotions set status = 'applying' where id = '00000000-0000-4000-8000-00000000aa01';
reset role;
select set_config('request.jwt.claims', '{}', true);
update ops.promotions set status = 'failed', failure = '{"checks": ["parity"]}'
 where id = '00000000-0000-4000-8000-00000000aa01';

select results_eq(
  $$select e.name, o.event_type
      from ops.notification_outbox as o join ops.notification_endpoints as e on e.id = o.endpoint_id
     where o.promotion_id = '00000000-0000-4000-8000-00000000aa01'
     -- Events in order; one event's rows (one statement) by endpoint name, not scan order.
     order by min(o.id) over (partition by o.event_id), e.name$$,
  $$values ('zz-hook', 'promotion.approved'), ('zz-hook', 'promotion.applying'),
           ('zz-chat', 'promotion.failed'), ('zz-hook', 'promotion.failed')$$,
  'each status change writes one row per enabled endpoint that wants it'
);
select is(
  (select count(distinct event_id)::int from ops.notification_outbox
    where promotion_id = '00000000-0000-4000-8000-00000000aa01' and event_type = 'promotion.failed'),
  1,
  'the endpoints of one event share its id'
);
select results_eq(
  $$select payload->>'type', payload->'data'->>'previous_status', payload->'data'->'actor'->>'email',
           payload->'data'->>'promotion_id', payload->'data'->>'risk'
      from ops.notification_outbox
     where promotion_id = '00000000-0000-4000-8000-00000000aa01' and event_type = 'promotion.applying'$$,
  $$values ('promotion.applying', 'approved', 'operator@stagecoach.test',
            '00000000-0000-4000-8000-00000000aa01', 'low')$$,
  'the payload says what changed, from which status, and who did it'
);
select is(
  (select payload->'data'->'failure' from ops.notification_outbox
    where promotion_id = '00000000-0000-4000-8000-00000000aa01' and event_type = 'promotion.failed' limit 1),
  '{"checks": ["parity"]}'::jsonb,
  'a failed promotion''s notification says why'
);
select is(
  (select count(*)::int from ops.notification_outbox
    where payload::text ~ '(whsec_|s3cret|tok3n)'),
  0,
  'no payload holds a secret or an endpoint URL'
);

update ops.promotions set failure = '{"checks": []}' where id = '00000000-0000-4000-8000-00000000aa01';
select is(
  (select count(*)::int from ops.notification_outbox where promotion_id = '00000000-0000-4000-8000-00000000aa01'),
  4,
  'an update that is not a status change notifies nobody'
);

savepoint before_rolled_back;
select ops.create_promotion(pg_temp.plan_text('aa02', 'development', 'zz-notify', '{flags}', 'low'),
                             null, '00000000-0000-4000-8000-00000000aa02');
rollback to savepoint before_rolled_back;
select is(
  (select count(*)::int from ops.notification_outbox where promotion_id = '00000000-0000-4000-8000-00000000aa02'),
  0,
  'a rolled-back transition leaves no outbox row'
);

-- Through approvals: who planned, who approved ----------------------------------------------------

insert into ops.environments (name, kind) values ('zz-notify-prod', 'production');
select ops.add_notification_endpoint('zz-notify-prod', 'zz-prod-hook', 'webhook', 'https://p.example.test/');
select pg_temp.act_as('operator');
select ops.create_promotion(pg_temp.plan_text('aa03', 'staging', 'zz-notify-prod', '{tiers}', 'low'),
                             null, '00000000-0000-4000-8000-00000000aa03');
reset role;
select pg_temp.act_as('approver');
insert into ops.approvals (promotion_id, decision, plan_hash)
select '00000000-0000-4000-8000-00000000aa03', 'approve',
       encode(sha256(convert_to(pg_temp.plan_text('aa03', 'staging', 'zz-notify-prod', '{tiers}', 'low'), 'UTF8')), 'hex');
reset role;
select set_config('request.jwt.claims', '{}', true);
select results_eq(
  $$select event_type, payload->'data'->'actor'->>'email', (payload->'data'->>'approvals')::int
      from ops.notification_outbox
     where promotion_id = '00000000-0000-4000-8000-00000000aa03' order by id$$,
  $$values ('promotion.awaiting_approval', 'operator@stagecoach.test', 0),
           ('promotion.approved', 'approver@stagecoach.test', 1)$$,
  'a plan awaiting approval names its planner; the approval names its approver'
);

-- anon ------------------------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok('select name from ops.notification_endpoints', '42501', null, 'anon cannot read endpoints');
select throws_ok('select id from ops.notification_outbox', '42501', null, 'anon cannot read the outbox');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'anon', 'webhook', 'https://a.test/')$$,
  '42501', null, 'anon cannot add endpoints'
);
reset role;

-- A signed-in non-member --------------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select is_empty('select name from ops.notification_endpoints', 'a non-member reads no endpoints');
select is_empty('select id from ops.notification_outbox', 'a non-member reads no outbox rows');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'nm', 'webhook', 'https://a.test/')$$,
  '42501', 'Cannot add notification endpoint: only admins may', 'a non-member cannot add endpoints'
);
reset role;

-- Viewer (and approver): read, never write, never see secrets -----------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  $$select name from ops.notification_endpoints where environment = 'zz-notify' order by name$$,
  array['zz-chat', 'zz-hook', 'zz-off'],
  'a viewer reads endpoint names, kinds and hints'
);
select is(
  (select count(*)::int from ops.notification_outbox where promotion_id = '00000000-0000-4000-8000-00000000aa01'),
  4,
  'a viewer reads the outbox'
);
select throws_ok('select url_ciphertext from ops.notification_endpoints', '42501', null,
  'a viewer cannot read the encrypted URL');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'v', 'webhook', 'https://a.test/')$$,
  '42501', null, 'a viewer cannot add endpoints'
);
update ops.notification_endpoints set enabled = false where name = 'zz-hook';
delete from ops.notification_endpoints where name = 'zz-chat';
select throws_ok('select * from ops.claim_notifications(10, interval ''1 minute'')', '42501', null,
  'a viewer cannot claim notifications');
select throws_ok($$update ops.notification_outbox set status = 'dead'$$, '42501', null,
  'a viewer cannot change the outbox');
reset role;
select results_eq(
  $$select count(*)::int, bool_and(enabled) from ops.notification_endpoints
     where name in ('zz-hook', 'zz-chat')$$,
  $$values (2, true)$$,
  'a viewer''s update and delete changed nothing'
);

select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.remove_notification_endpoint('zz-notify', 'zz-hook')$$,
  '42501', 'Cannot remove notification endpoint: only admins may', 'an approver cannot remove endpoints'
);
reset role;

-- Operator: runs promotions, does not manage endpoints ------------------------------------------------

select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.add_notification_endpoint('zz-notify', 'op', 'slack', 'https://a.test/')$$,
  '42501', null, 'an operator cannot add endpoints'
);
select throws_ok(
  $$insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
    select gen_random_uuid(), id, 'promotion.approved', '{}' from ops.notification_endpoints limit 1$$,
  '42501', null, 'an operator cannot forge an outbox row'
);
reset role;

-- Admin: manages endpoints, still never reads secrets ------------------------------------------------

select pg_temp.act_as('admin');
select results_eq(
  $$select created, signing_secret is null from ops.add_notification_endpoint(
      'zz-notify', 'zz-admin', 'slack', 'https://hooks.slack.test/services/T1/B1/x')$$,
  $$values (true, true)$$,
  'an admin adds a Slack endpoint (no signing secret)'
);
select results_eq(
  $$select created, changed from ops.add_notification_endpoint(
      'zz-notify', 'zz-admin', 'slack', 'https://hooks.slack.test/services/T1/B1/y', array['promotion.approved'])$$,
  $$values (false, true)$$,
  'adding it again with another URL and events updates it'
);
select lives_ok(
  $$update ops.notification_endpoints set enabled = false where name = 'zz-admin'$$,
  'an admin can disable an endpoint'
);
select throws_ok('select * from ops.notification_endpoints', '42501', null,
  'select * is refused even for an admin: it includes the ciphertexts');
select throws_ok('select secret_ciphertext from ops.notification_endpoints', '42501', null,
  'an admin cannot read the encrypted signing secret');
select throws_ok('select * from ops.claim_notifications(10, interval ''1 minute'')', '42501', null,
  'an admin cannot claim notifications (only the worker decrypts)');
select is(ops.remove_notification_endpoint('zz-notify', 'zz-admin'), true, 'an admin removes an endpoint');
select is(ops.remove_notification_endpoint('zz-notify', 'zz-admin'), false,
  'removing it again changes nothing');
reset role;
select results_eq(
  $$select action from ops.audit_log
     where subject_type = 'notification_endpoint' and details->>'name' = 'zz-admin' order by id$$,
  array['notification_endpoint.added', 'notification_endpoint.changed', 'notification_endpoint.removed'],
  'every endpoint change is audited'
);
select is(
  (select count(*)::int from ops.audit_log
    where subject_type = 'notification_endpoint' and details::text ~ '(whsec_|s3cret|/services/)'),
  0,
  'audit entries hold neither URLs nor secrets'
);

-- service_role: the worker's path ---------------------------------------------------------------------

select pg_temp.act_as('service_role');
select throws_ok('select url_ciphertext from ops.notification_endpoints', '42501', null,
  'the service role cannot read the encrypted URL directly either');
create temp table t_claimed on commit drop as
select * from ops.claim_notifications(100, interval '2 minutes', now() + interval '1 hour')
 where endpoint_name in ('zz-hook', 'zz-chat');
select results_eq(
  $$select endpoint_name, event_type, attempt, url, signing_secret = (select signing_secret from t_added)
      from t_claimed order by min(outbox_id) over (partition by event_type), endpoint_name$$,
  $$values ('zz-hook', 'promotion.approved', 1, 'https://hooks.example.test/in/tok3n?key=s3cret', true),
           ('zz-hook', 'promotion.applying', 1, 'https://hooks.example.test/in/tok3n?key=s3cret', true),
           ('zz-chat', 'promotion.failed', 1, 'https://hooks.slack.test/services/T0/B0/s3cret', null),
           ('zz-hook', 'promotion.failed', 1, 'https://hooks.example.test/in/tok3n?key=s3cret', true)$$,
  'the worker claims due rows with the decrypted URL and signing secret'
);
select is(
  (select count(*)::int from ops.claim_notifications(100, interval '2 minutes', now() + interval '1 hour')
    where endpoint_name in ('zz-hook', 'zz-chat')),
  0,
  'claimed rows are leased: a second claim gets none of them'
);
select lives_ok(
  $$update ops.notification_outbox set status = 'delivered', delivered_at = now(), last_status_code = 204
     where id in (select outbox_id from t_claimed)$$,
  'the worker records outcomes'
);
select throws_ok(
  $$insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
    select gen_random_uuid(), id, 'promotion.approved', '{}' from ops.notification_endpoints limit 1$$,
  '42501', null, 'not even the worker can insert outbox rows (only the transition trigger does)'
);
reset role;

select * from finish();
rollback;
