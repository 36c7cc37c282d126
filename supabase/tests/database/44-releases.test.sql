-- ops.releases: written only by the release CLI over the database connection (postgres)
-- through ops.start_release / ops.record_release_step / ops.set_release_status, every
-- transition audited, outcomes notified; ops members read; nobody else reads or writes.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(29);

select has_table('ops', 'releases', 'ops.releases exists');
select is(
  (select relrowsecurity from pg_class where oid = 'ops.releases'::regclass),
  true,
  'RLS is enabled on ops.releases'
);

-- The release CLI (postgres) --------------------------------------------------------------
create temp table t_release as
  select * from ops.start_release('development', 'staging', 'ABCDEF1234', 'github:acme/app#7 (ci)');
grant select on t_release to authenticated, anon, service_role;
select is((select status from t_release), 'running', 'a release starts running');
select is((select git_sha from t_release), 'abcdef1234', 'the commit is kept in lower case');
select is(
  (select id from ops.start_release('development', 'staging', 'abcdef1234', 'someone else')),
  (select id from t_release),
  'starting the same commit again returns the same release (a re-run continues it)'
);
select is(
  (select count(*)::int from ops.audit_log where action = 'release.started'
     and subject_id = (select id::text from t_release)),
  1, 'the start is audited once'
);

select ops.record_release_step((select id from t_release), 'plan', 'running');
select is(
  (select steps->0->>'status' from ops.releases where id = (select id from t_release)),
  'running', 'a running step is recorded'
);
select ops.record_release_step((select id from t_release), 'plan', 'succeeded', '3 change(s)');
select is(
  (select jsonb_array_length(steps) from ops.releases where id = (select id from t_release)),
  1, 'a step is kept once, by name'
);
select ok(
  (select (steps->0->>'ms') is not null and steps->0->>'summary' = '3 change(s)'
   from ops.releases where id = (select id from t_release)),
  'a finished step has its time and summary'
);
select is(
  (select count(*)::int from ops.audit_log where action = 'release.step'
     and subject_id = (select id::text from t_release)),
  2, 'every step transition is audited'
);
select throws_ok(
  $$select ops.record_release_step((select id from t_release), 'Bad Step', 'running')$$,
  '22023', null, 'a malformed step name is refused'
);
select throws_ok(
  $$select ops.record_release_step((select id from t_release), 'apply', 'exploded')$$,
  '22023', null, 'an unknown step status is refused'
);

-- Waiting, failing and continuing -----------------------------------------------------------
insert into ops.notification_endpoints (environment, name, kind, url_ciphertext, url_hint, events)
values ('development', 'zz-releases', 'slack',
        private.encrypt_config_secret('https://hooks.slack.com/services/T/B/x'),
        'https://hooks.slack.com/…', array['release.waiting_approval', 'release.failed']);
select ops.set_release_status((select id from t_release), 'waiting_approval');
select is(
  (select count(*)::int from ops.notification_outbox where event_type = 'release.waiting_approval'
     and payload->'data'->>'release_id' = (select id::text from t_release)),
  1, 'waiting for approval notifies the endpoints that asked'
);
select ops.record_release_step((select id from t_release), 'approval', 'running');
select is(
  (select status from ops.releases where id = (select id from t_release)),
  'running', 'a step running again reopens a waiting release'
);
select ops.record_release_step((select id from t_release), 'apply', 'failed', 'boom');
select ops.set_release_status((select id from t_release), 'failed');
select ok(
  (select finished_at is not null from ops.releases where id = (select id from t_release)),
  'a failed release has its finish time'
);
select is(
  (select payload->'data'->'steps'->-1->>'summary' from ops.notification_outbox
   where event_type = 'release.failed'
     and payload->'data'->>'release_id' = (select id::text from t_release)),
  'boom', 'the failure notification carries the steps and their summaries'
);
select ops.set_release_status((select id from t_release), 'succeeded');
select throws_ok(
  $$select ops.record_release_step((select id from t_release), 'apply', 'running')$$,
  '23514', null, 'a succeeded release takes no more steps'
);
select throws_ok(
  $$select ops.set_release_status((select id from t_release), 'running')$$,
  '23514', null, 'a succeeded release stays succeeded'
);

-- The approval of a promotion a release carries names the release's commit ----------------------
select pg_temp.create_as_current('rel', 'staging', 'development', '{config}', 'high');
create temp table t_release2 as
  select * from ops.start_release('development', 'staging', 'fedcba9876', 'user:ci');
select ops.record_release_step((select id from t_release2), 'plan', 'succeeded', null, pg_temp.pid('rel'));
insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
select gen_random_uuid(), e.id, 'promotion.approved',
       jsonb_build_object('type', 'promotion.approved', 'data',
                          jsonb_build_object('promotion_id', pg_temp.pid('rel')))
from ops.notification_endpoints as e where e.name = 'zz-releases';
select is(
  (select payload->'data'->>'git_sha' from ops.notification_outbox
   where event_type = 'promotion.approved' and payload->'data'->>'promotion_id' = pg_temp.pid('rel')::text),
  'fedcba9876', 'promotion.approved names the commit of the release that carries it'
);
insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
select gen_random_uuid(), e.id, 'promotion.approved',
       jsonb_build_object('type', 'promotion.approved', 'data',
                          jsonb_build_object('promotion_id', gen_random_uuid()))
from ops.notification_endpoints as e where e.name = 'zz-releases';
select is(
  (select count(*)::int from ops.notification_outbox
   where event_type = 'promotion.approved' and payload->'data' ? 'git_sha'),
  1, 'a promotion outside releases is notified unchanged'
);

-- Readers and the denied paths ------------------------------------------------------------------
select pg_temp.act_as('viewer');
select results_eq(
  $$select status from ops.releases where id = (select id from t_release)$$,
  array['succeeded'], 'a viewer reads releases'
);
select throws_ok(
  $$select ops.start_release('development', 'staging', 'abcdef9', 'me')$$,
  '42501', null, 'a viewer cannot start a release'
);
reset role;

select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.record_release_step((select id from t_release), 'apply', 'running')$$,
  '42501', null, 'an operator cannot write a release step through the API roles'
);
select throws_ok(
  $$update ops.releases set status = 'failed'$$,
  '42501', null, 'an operator cannot update releases directly'
);
reset role;

select pg_temp.act_as('admin');
select throws_ok(
  $$insert into ops.releases (environment, source_env, git_sha, started_by)
    values ('production', 'staging', 'abcdef9', 'me')$$,
  '42501', null, 'an admin cannot insert releases directly'
);
select throws_ok(
  $$select ops.set_release_status((select id from t_release), 'failed')$$,
  '42501', null, 'an admin cannot move a release'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.releases$$, 'a non-member reads no releases');
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.releases$$, '42501', null, 'anon cannot read releases');
reset role;

select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.start_release('development', 'staging', 'abcdef9', 'me')$$,
  '42501', null, 'the service role cannot start a release'
);
reset role;

select * from finish();
rollback;
