-- Rollouts of feature flags (migrations 20261207000200, 20261207000210): starting (checked
-- stages, one active rollout per flag, approval where the environment requires it), samples and
-- streaks, advancing only after a stage's time with a healthy sample, pause / resume / rollback,
-- percentage writes through the gate with a `rollout` permit, notifications. Written only by the
-- database owner (the CLI, the ops-worker); ops members read; everyone else neither.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(41);

select has_table('ops', 'flag_rollouts', 'ops.flag_rollouts exists');
select has_table('ops', 'flag_rollout_samples', 'ops.flag_rollout_samples exists');
select ok(
  (select bool_and(relrowsecurity) from pg_class
   where oid in ('ops.flag_rollouts'::regclass, 'ops.flag_rollout_samples'::regclass)),
  'RLS is enabled on both'
);
select ok(
  (select pg_get_constraintdef(oid) like '%rollout%' from pg_constraint
   where conname = 'promotions_scope_check'),
  'promotions may have scope rollout'
);

-- This database is development, not gated; a flag at 0 %.
select pg_temp.as_system();
update ops.environments set is_self = false where is_self;
insert into ops.environments (name, kind, required_approvals, high_risk_approvals, is_self)
values ('development', 'development', 0, 0, true)
on conflict (name) do update set is_self = true, required_approvals = 0, high_risk_approvals = 0;
insert into public.feature_flags (key, enabled, rollout_percent) values ('pgtap.rollout', true, 0);

-- Starting ------------------------------------------------------------------------------------
select throws_ok(
  $$select ops.start_rollout('pgtap.nothing', array[1, 100], 60, 'pause', '[]', 'test')$$,
  'P0002', null, 'an unknown flag is refused'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.rollout', array[5, 5, 100], 60, 'pause', '[]', 'test')$$,
  '22023', null, 'stages that do not rise strictly are refused'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.rollout', array[0, 100], 60, 'pause', '[]', 'test')$$,
  '22023', null, 'a stage of 0 % is refused'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.rollout', array[1, 100], 60, 'explode', '[]', 'test')$$,
  '22023', null, 'an unknown breach action is refused'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.rollout', array[1, 100], 60, 'pause',
      ('[{"name": "q", "sql": "select 0", "sha256": "' || repeat('a', 64) || '", "threshold": 0, "direction": "above"}]')::jsonb,
      'test')$$,
  '22023', null, 'a health query whose SHA-256 is not that of its text is refused'
);
select is((select count(*)::int from ops.flag_rollouts), 0, 'nothing was written by the refusals');

create temp table t_ro as
  select * from ops.start_rollout('pgtap.rollout', array[5, 50, 100], 60, 'pause',
    jsonb_build_array(jsonb_build_object('name', 'q', 'sql', 'select 0',
      'sha256', encode(sha256(convert_to('select 0', 'UTF8')), 'hex'), 'threshold', 0,
      'direction', 'above')),
    'test');
grant select on t_ro to authenticated, anon, service_role;
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.rollout'), 5,
  'the first stage is written at once'
);
select is(
  (select kind from ops.jobs where id = (select job_id from t_ro)), 'flag.rollout',
  'a flag.rollout job is queued'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.rollout', array[60, 100], 60, 'pause', '[]', 'test')$$,
  '23505', null, 'one active rollout per flag'
);

-- Advancing -----------------------------------------------------------------------------------
select throws_ok(
  $$select ops.advance_rollout((select id from t_ro))$$,
  '23514', null, 'no advance before the stage''s time'
);
update ops.flag_rollouts set next_advance_at = now() - interval '1 second',
                             stage_started_at = now() - interval '2 minutes'
where id = (select id from t_ro);
select throws_ok(
  $$select ops.advance_rollout((select id from t_ro))$$,
  '23514', null, 'no advance without a healthy sample in the stage'
);
select is(
  ops.record_rollout_sample((select id from t_ro), true, '[]'), 0, 'a healthy sample: no streak'
);
select is(
  (select percent from ops.advance_rollout((select id from t_ro))), 50,
  'after its time, with a healthy sample, the rollout advances'
);
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.rollout'), 50,
  'the flag follows'
);

-- Samples, pause, resume, rollback ---------------------------------------------------------------
select is(ops.record_rollout_sample((select id from t_ro), false, '[{"name": "health:q", "healthy": false}]'), 1,
  'an unhealthy sample starts a streak');
select is(ops.record_rollout_sample((select id from t_ro), false, '[]'), 2, 'the streak grows');
select is(
  (select status || ' ' || percent from ops.halt_rollout((select id from t_ro), 'pause', '{"by": "health"}')),
  'paused 50', 'a pause keeps the percentage'
);
select throws_ok(
  $$select ops.record_rollout_sample((select id from t_ro), true, '[]')$$,
  '23514', null, 'a paused rollout takes no samples'
);
select is(
  (select status from ops.resume_rollout((select id from t_ro), 'test')), 'running',
  'a paused rollout resumes'
);
select is(
  ops.record_rollout_sample((select id from t_ro), false, '[]'), 1,
  'samples before the resume no longer count towards a breach'
);

-- Gated: the percentage moves only through a rollout's permit -----------------------------------
update ops.environments set required_approvals = 1, high_risk_approvals = 2 where name = 'development';
select throws_ok(
  $$update public.feature_flags set rollout_percent = 100 where key = 'pgtap.rollout'$$,
  '42501', null, 'the gate still refuses a direct write, even the owner''s'
);
select throws_ok(
  $$select ops.start_rollout('pgtap.other', array[1, 100], 60, 'pause', '[]', 'test')$$,
  'P0002', null, 'an unknown flag is refused before the approval check'
);
insert into private.promotion_writes (xact, purpose, reason)
values (pg_current_xact_id(), 'break_glass', 'pgtap: a second flag to try approval on');
insert into public.feature_flags (key, enabled, rollout_percent) values ('pgtap.other', true, 0);
delete from private.promotion_writes where xact = pg_current_xact_id();
select throws_ok(
  $$select ops.start_rollout('pgtap.other', array[1, 100], 60, 'pause', '[]', 'test')$$,
  '42501', null, 'without an approved promotion a gated environment refuses to start'
);
select is(
  (select status || ' ' || percent from ops.halt_rollout((select id from t_ro), 'rollback', '{"by": "health"}')),
  'rolled_back 0', 'a rollback returns to 0 %, through its own permit'
);
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.rollout'), 0,
  'the flag is back at 0 %'
);
select ok(
  exists (select 1 from ops.audit_log where action = 'promotable.update'
          and details->>'purpose' = 'rollout' and details->>'reason' like 'rollout %: 0 %%'),
  'the gate audited the write with its rollout permit'
);
select ok(
  (select array_agg(action order by id) from ops.audit_log where subject_id = (select id::text from t_ro))
    @> array['rollout.started', 'rollout.advanced', 'rollout.unhealthy', 'rollout.paused',
             'rollout.resumed', 'rollout.rolled_back'],
  'every step is audited'
);

-- Readers and the denied paths ------------------------------------------------------------------
select pg_temp.act_as('viewer');
select ok(
  (select count(*) = 1 from ops.flag_rollouts where id = (select id from t_ro))
  and (select count(*) >= 4 from ops.flag_rollout_samples where rollout_id = (select id from t_ro)),
  'a viewer reads rollouts and samples'
);
select throws_ok(
  $$select ops.record_rollout_sample((select id from t_ro), true, '[]')$$,
  '42501', null, 'a viewer cannot record a sample'
);
reset role;

select pg_temp.act_as('admin');
select throws_ok(
  $$select ops.start_rollout('pgtap.other', array[1, 100], 60, 'pause', '[]', 'admin')$$,
  '42501', null, 'an admin cannot start a rollout through the Data API'
);
select throws_ok(
  $$update ops.flag_rollouts set status = 'running'$$,
  '42501', null, 'an admin cannot change a rollout directly'
);
select throws_ok(
  $$select ops.halt_rollout((select id from t_ro), 'abort', '{}')$$,
  '42501', null, 'an admin cannot halt a rollout through the Data API'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.flag_rollouts$$, 'a non-member reads no rollouts');
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.flag_rollout_samples$$, '42501', null, 'anon cannot read samples');
reset role;

select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.advance_rollout((select id from t_ro))$$,
  '42501', null, 'the service role cannot advance a rollout'
);
reset role;

-- No API role may execute what writes a rollout or its percentage; the plan shape is public.
select is(
  (select array_agg(f || ' ' || r order by f, r)
   from unnest(array[
          'ops.start_rollout(text, integer[], integer, text, jsonb, text, uuid)',
          'ops.record_rollout_sample(uuid, boolean, jsonb)', 'ops.advance_rollout(uuid)',
          'ops.halt_rollout(uuid, text, jsonb)', 'ops.resume_rollout(uuid, text)',
          'private.write_rollout_percent(ops.flag_rollouts, integer)',
          'private.notify_rollout(ops.flag_rollouts, text)']) as f,
        unnest(array['anon', 'authenticated', 'service_role']) as r
   where has_function_privilege(r, f, 'execute')),
  null, 'anon, authenticated and service_role execute none of the rollout writers'
);
select ok(
  has_function_privilege('authenticated', 'ops.rollout_plan(text, integer[], integer, text, jsonb)', 'execute'),
  'members may compute the plan an approval binds to'
);

select * from finish();
rollback;
