-- The safety net of releases (migration 20261204000200): the backup and revert scripts recorded
-- on a release, the watch (settings, samples, streaks, outcomes, notifications), the rollback
-- record. Written only by the database owner (the release CLI, the ops-worker); ops members
-- read; everyone else neither reads nor writes.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(42);

select has_table('ops', 'release_reverts', 'ops.release_reverts exists');
select has_table('ops', 'release_watch_samples', 'ops.release_watch_samples exists');
select ok(
  (select bool_and(relrowsecurity) from pg_class
   where oid in ('ops.release_reverts'::regclass, 'ops.release_watch_samples'::regclass)),
  'RLS is enabled on both'
);

-- Settings ----------------------------------------------------------------------------------
select results_eq(
  $$select window_s, every_s, breach_after from ops.release_watch_settings('production')$$,
  $$values (600, 30, 3)$$, 'production is watched 10 minutes by default, a sample every 30 s'
);
select results_eq(
  $$select window_s from ops.release_watch_settings('development')$$,
  $$values (0)$$, 'development is not watched by default'
);
update ops.environments set watch_window = '6 seconds', watch_every = '2 seconds',
  watch_breach_after = 2 where name = 'development';
select results_eq(
  $$select window_s, every_s, breach_after from ops.release_watch_settings('development')$$,
  $$values (6, 2, 2)$$, 'an environment sets its own window, interval and breach count'
);
select throws_ok(
  $$update ops.environments set watch_every = '0 seconds' where name = 'development'$$,
  '23514', null, 'a sample interval under a second is refused'
);

-- A release with a backup and revert scripts ----------------------------------------------------
create temp table t_rel as
  select * from ops.start_release('development', 'staging', 'abc1234', 'user:ci');
grant select on t_rel to authenticated, anon, service_role;
select lives_ok(
  $$select ops.record_release_backup((select id from t_rel),
      ('{"id": "b1", "manifest_sha256": "' || repeat('a', 64) || '", "key_fingerprint": "k"}')::jsonb)$$,
  'the release records its backup'
);
select throws_ok(
  $$select ops.record_release_backup((select id from t_rel), '{"id": "b1"}')$$,
  '22023', null, 'a backup without its manifest hash is refused'
);
select is(
  (select ops.record_release_reverts((select id from t_rel), jsonb_build_array(
     jsonb_build_object('version', '20991231000001', 'name', 'add_x', 'sql', 'drop table x;',
       'sha256', encode(sha256(convert_to('drop table x;', 'UTF8')), 'hex'), 'loses_data', true,
       'reason', 'x holds rows'),
     jsonb_build_object('version', '20991231000002', 'name', 'add_y', 'sql', null, 'sha256', null)))),
  2, 'revert scripts are recorded (one without a script)'
);
select is(
  (select ops.record_release_reverts((select id from t_rel), jsonb_build_array(
     jsonb_build_object('version', '20991231000001', 'name', 'add_x', 'sql', 'drop table x;',
       'sha256', encode(sha256(convert_to('drop table x;', 'UTF8')), 'hex'), 'loses_data', true)))),
  0, 'recording the same again changes nothing'
);
select throws_ok(
  $$select ops.record_release_reverts((select id from t_rel), jsonb_build_array(
     jsonb_build_object('version', '20991231000001', 'name', 'add_x', 'sql', 'drop table y;',
       'sha256', encode(sha256(convert_to('drop table y;', 'UTF8')), 'hex'))))$$,
  '23514', null, 'another script for a recorded migration is refused'
);
select throws_ok(
  $$select ops.record_release_reverts((select id from t_rel), jsonb_build_array(
     jsonb_build_object('version', '20991231000003', 'name', 'add_z', 'sql', 'drop table z;',
       'sha256', repeat('0', 64))))$$,
  '23514', null, 'a script whose hash is not that of its text is refused'
);

-- The revert script must be the one the approvers saw --------------------------------------------
create temp table t_planned as
  select c.id from ops.create_promotion(jsonb_build_object(
    'format', 'stagecoach.plan', 'version', 1, 'source', 'staging', 'target', 'development',
    'scope', '["schema"]'::jsonb, 'options', jsonb_build_object('include_flag_state', false),
    'risk', 'low', 'kept', '[]'::jsonb,
    'summary', jsonb_build_object('create', 1, 'update', 0, 'delete', 0, 'retire', 0,
                                  'replace', 0, 'archive', 0),
    'changes', jsonb_build_array(jsonb_build_object(
      'kind', 'schema_migrations', 'key', '20991231000009_add_w', 'action', 'create',
      'risk', 'low', 'reasons', '[]'::jsonb, 'before', null,
      'after', jsonb_build_object('version', '20991231000009', 'name', 'add_w',
        'revert', jsonb_build_object(
          'sha256', encode(sha256(convert_to('drop table w;', 'UTF8')), 'hex'))))))::text,
    null, pg_temp.pid('planned')) as c;
create temp table t_rel2 as
  select * from ops.start_release('development', 'staging', 'def5678', 'user:ci');
grant select on t_rel2 to authenticated, anon, service_role;
select ops.record_release_step((select id from t_rel2), 'plan', 'succeeded', null, (select id from t_planned));
select throws_ok(
  $$select ops.record_release_reverts((select id from t_rel2), jsonb_build_array(
     jsonb_build_object('version', '20991231000009', 'name', 'add_w', 'sql', 'select 1;',
       'sha256', encode(sha256(convert_to('select 1;', 'UTF8')), 'hex'))))$$,
  '23514', null, 'a revert script other than the approved one is refused'
);
select is(
  (select ops.record_release_reverts((select id from t_rel2), jsonb_build_array(
     jsonb_build_object('version', '20991231000009', 'name', 'add_w', 'sql', 'drop table w;',
       'sha256', encode(sha256(convert_to('drop table w;', 'UTF8')), 'hex'))))),
  1, 'the approved revert script is recorded'
);

-- The watch -------------------------------------------------------------------------------------
insert into ops.notification_endpoints (environment, name, kind, url_ciphertext, url_hint, events)
values ('development', 'zz-watch', 'slack',
        private.encrypt_config_secret('https://hooks.slack.com/services/T/B/w'),
        'https://hooks.slack.com/…', array['release.rolled_back', 'release.succeeded']);
select lives_ok(
  $$select ops.start_release_watch((select id from t_rel),
      ('[{"name": "probe", "sql": "select 0", "sha256": "' || repeat('b', 64) || '", "threshold": 0, "direction": "above"}]')::jsonb)$$,
  'an applied release starts being watched'
);
select is(
  (select status from ops.releases where id = (select id from t_rel)), 'watching',
  'it is watching'
);
select ok(
  (select (watch->>'window_s')::int = 6 and watch->>'outcome' is null
     and jsonb_array_length(health_queries) = 1
   from ops.releases where id = (select id from t_rel)),
  'the watch and the commit''s health queries are on the release'
);
select is(
  (select count(*)::int from ops.jobs where kind = 'release.watch'
     and params->>'release_id' = (select id::text from t_rel) and executor = 'worker'),
  1, 'a release.watch job is queued for the ops-worker'
);
select is(
  (select watch->>'job_id' from ops.start_release_watch((select id from t_rel), '[]')),
  (select watch->>'job_id' from ops.releases where id = (select id from t_rel)),
  'starting it again returns the same watch'
);
select ops.set_release_status((select id from t_rel2), 'failed');
select throws_ok(
  $$select ops.start_release_watch((select id from t_rel2), '[]')$$,
  '23514', null, 'a release that is not running (failed) is not watched'
);

select is(ops.record_release_sample((select id from t_rel), true, '[]'), 0, 'a healthy sample');
select is(ops.record_release_sample((select id from t_rel), false, '[{"name": "probe", "healthy": false}]'), 1,
  'an unhealthy sample starts a streak');
select is(ops.record_release_sample((select id from t_rel), false, '[{"name": "probe", "healthy": false}]'), 2,
  'the streak counts consecutive unhealthy samples');
select is(
  (select count(*)::int from ops.audit_log where action = 'release.watch_unhealthy'
     and subject_id = (select id::text from t_rel)),
  2, 'every unhealthy sample is audited'
);

select ops.record_release_rollback((select id from t_rel),
  '{"trigger": "watch", "data": {"restored_rows": 1}}');
select ops.finish_release_watch((select id from t_rel), 'rolled_back', '{"breached": {}}');
select is(
  (select status from ops.releases where id = (select id from t_rel)), 'rolled_back',
  'a breach ends the release rolled_back'
);
select ok(
  (select payload->'data'->'watch'->>'outcome' = 'rolled_back'
      and payload->'data'->'rollback'->>'trigger' = 'watch'
   from ops.notification_outbox where event_type = 'release.rolled_back'
     and payload->'data'->>'release_id' = (select id::text from t_rel)),
  'release.rolled_back notifies with the watch and the rollback'
);
select is(
  (select status from ops.finish_release_watch((select id from t_rel), 'passed')),
  'rolled_back', 'a finished watch stays finished'
);
select throws_ok(
  $$select ops.record_release_sample((select id from t_rel), true, '[]')$$,
  '23514', null, 'no samples after the watch ended'
);
select lives_ok(
  $$select ops.record_release_step((select id from t_rel), 'rollback', 'succeeded', 'again')$$,
  'a rolled-back release still records its rollback step'
);

-- Readers and the denied paths ------------------------------------------------------------------
select pg_temp.act_as('viewer');
select ok(
  (select count(*) >= 2 from ops.release_watch_samples where release_id = (select id from t_rel))
  and (select count(*) = 2 from ops.release_reverts where release_id = (select id from t_rel)),
  'a viewer reads samples and revert scripts'
);
select throws_ok(
  $$select ops.record_release_sample((select id from t_rel), true, '[]')$$,
  '42501', null, 'a viewer cannot record a sample'
);
reset role;

select pg_temp.act_as('admin');
select throws_ok(
  $$insert into ops.release_watch_samples (release_id, seq, healthy, metrics)
    values ((select id from t_rel), 99, true, '[]')$$,
  '42501', null, 'an admin cannot insert samples directly'
);
select throws_ok(
  $$delete from ops.release_reverts$$,
  '42501', null, 'an admin cannot delete revert scripts'
);
select throws_ok(
  $$select ops.finish_release_watch((select id from t_rel2), 'passed')$$,
  '42501', null, 'an admin cannot end a watch'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.release_watch_samples$$, 'a non-member reads no samples');
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.release_reverts$$, '42501', null, 'anon cannot read revert scripts');
reset role;

select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.start_release_watch((select id from t_rel2), '[]')$$,
  '42501', null, 'the service role cannot start a watch'
);
reset role;

select pg_temp.as_system();
-- In an environment that requires approval, weakening the watch is weakening the policy.
update ops.environments set required_approvals = 1, high_risk_approvals = 2 where name = 'development';
select throws_ok(
  $$update ops.environments set watch_window = '1 second' where name = 'development'$$,
  '42501', null, 'a gated environment''s watch is not shortened, even by the owner'
);
select throws_ok(
  $$update ops.environments set watch_breach_after = 50 where name = 'development'$$,
  '42501', null, 'nor does it tolerate more unhealthy samples'
);
select lives_ok(
  $$update ops.environments set watch_window = '1 minute', watch_breach_after = 1 where name = 'development'$$,
  'strengthening the watch needs nobody'
);
select lives_ok(
  $$select ops.break_glass('pgTAP: a shorter watch'); update ops.environments set watch_window = '6 seconds', watch_breach_after = 2 where name = 'development'$$,
  'under break glass (audited, announced) the owner may shorten it'
);

select * from finish();
rollback;
