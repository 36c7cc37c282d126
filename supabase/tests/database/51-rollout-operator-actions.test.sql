-- Operators' rollout actions (migration 20261208000300): operators and admins pause, resume and
-- abort a rollout as themselves (audited with the actor, named in the halt reason); viewers,
-- approvers, non-members and anon are refused and nothing changes. `ops.rollout_actions`
-- reports the same rules per role and status.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(23);

select pg_temp.as_system();
update ops.environments set is_self = false where is_self;
insert into ops.environments (name, kind, required_approvals, high_risk_approvals, is_self)
values ('development', 'development', 0, 0, true)
on conflict (name) do update set is_self = true, required_approvals = 0, high_risk_approvals = 0;
insert into public.feature_flags (key, enabled, rollout_percent) values ('pgtap.operated', true, 0);
create temp table t_ro as
  select * from ops.start_rollout('pgtap.operated', array[5, 50, 100], 3600, 'pause', '[]', 'test');
grant select on t_ro to authenticated, anon, service_role;

create function pg_temp.rid() returns uuid language sql stable as $$ select id from pg_temp.t_ro $$;
create function pg_temp.action(action text) returns text
language sql
as $$
  select case when a is null then 'null'
              when (a -> action ->> 'allowed')::boolean then 'allowed'
              else a -> action ->> 'code' end
  from (select ops.rollout_actions(pg_temp.rid()) as a) as x
$$;
create function pg_temp.status() returns text
language sql security definer
as $$ select status from ops.flag_rollouts where id = pg_temp.rid() $$;

-- Denied: anon cannot call them; a non-member, a viewer, an approver are refused.
select pg_temp.act_as('anon');
select throws_ok($$select ops.operator_pause_rollout(pg_temp.rid())$$, '42501', null,
  'anon cannot pause');
select throws_ok($$select ops.rollout_actions(pg_temp.rid())$$, '42501', null,
  'anon cannot ask what it may do');
select pg_temp.act_as('nonmember');
select throws_ok($$select ops.operator_pause_rollout(pg_temp.rid())$$, '42501',
  null, 'a non-member cannot pause');
select is(pg_temp.action('pause'), 'null', 'a non-member gets no actions');
select pg_temp.act_as('viewer');
select throws_ok($$select ops.operator_pause_rollout(pg_temp.rid())$$, '42501',
  format('Cannot pause rollout %s: only operators and admins may', pg_temp.rid()),
  'a viewer cannot pause, and is told who may');
select throws_ok($$select ops.operator_abort_rollout(pg_temp.rid())$$, '42501', null,
  'a viewer cannot abort');
select is(pg_temp.action('pause'), 'role', 'a viewer is offered no pause');
select pg_temp.act_as('approver');
select throws_ok($$select ops.operator_abort_rollout(pg_temp.rid(), 'stop')$$, '42501', null,
  'an approver cannot abort');
select throws_ok($$select ops.operator_resume_rollout(pg_temp.rid())$$, '42501', null,
  'an approver cannot resume');
select is(pg_temp.action('abort'), 'role', 'an approver is offered no abort');
select pg_temp.as_system();
select is(pg_temp.status(), 'running', 'the refusals changed nothing');

-- Allowed: the operator pauses (with a comment), the admin resumes, the operator aborts.
select pg_temp.act_as('operator');
select is(pg_temp.action('pause'), 'allowed', 'an operator may pause a running rollout');
select is(pg_temp.action('resume'), 'status', 'but not resume it');
select throws_ok($$select ops.operator_pause_rollout(pg_temp.rid(), repeat('x', 2001))$$,
  '22023', null, 'a comment over 2000 characters is refused');
select is((ops.operator_pause_rollout(pg_temp.rid(), 'error rate up')).status, 'paused',
  'the operator pauses it');
select pg_temp.as_system();
select is(
  (select halted->>'by' || ' / ' || (halted->>'comment') from ops.flag_rollouts where id = pg_temp.rid()),
  'operator@stagecoach.test / error rate up',
  'the halt reason names the operator and their comment'
);
select is(
  (select actor from ops.audit_log where action = 'rollout.paused' and subject_id = pg_temp.rid()::text),
  pg_temp.uid('operator'),
  'the pause is audited with the operator as actor'
);
select pg_temp.act_as('admin');
select is(pg_temp.action('resume'), 'allowed', 'an admin may resume a paused rollout');
select is((ops.operator_resume_rollout(pg_temp.rid())).status, 'running', 'the admin resumes it');
select pg_temp.as_system();
select is(
  (select j.status || ' ' || j.created_via from ops.jobs as j
   join ops.flag_rollouts as f on f.job_id = j.id where f.id = pg_temp.rid()),
  'queued owner', 'the resumed rollout has its job queued again (the pause had canceled it)'
);
select pg_temp.act_as('operator');
select is((ops.operator_abort_rollout(pg_temp.rid(), 'not today')).status, 'aborted',
  'the operator aborts it');
select is(pg_temp.action('abort'), 'status', 'an aborted rollout cannot be aborted again');
select pg_temp.as_system();
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.operated'), 0,
  'the flag is back to 0 %'
);

select * from finish();
rollback;
