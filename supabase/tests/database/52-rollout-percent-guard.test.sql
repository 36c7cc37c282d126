-- While a rollout of a flag is running or paused, only the rollout moves the flag's percentage
-- (migration 20261207000220): a direct update, one under break glass, or an apply carrying flag
-- state is refused naming the rollout, and writes nothing; the kill switch (`enabled`) stays
-- free; the rollout's own writes (start, abort) pass; once it ended, the percentage is free.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(8);

select pg_temp.as_system();
update ops.environments set is_self = false where is_self;
insert into ops.environments (name, kind, required_approvals, high_risk_approvals, is_self)
values ('development', 'development', 0, 0, true)
on conflict (name) do update set is_self = true, required_approvals = 0, high_risk_approvals = 0;
insert into public.feature_flags (key, enabled, rollout_percent) values ('pgtap.guarded', true, 0);

create temp table t_g as
  select * from ops.start_rollout('pgtap.guarded', array[5, 50, 100], 60, 'pause', '[]', 'test');
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.guarded'), 5,
  'the rollout writes its first stage'
);
select throws_ok(
  $$update public.feature_flags set rollout_percent = 100 where key = 'pgtap.guarded'$$,
  '55000', null, 'a direct change of the percentage is refused while the rollout runs'
);
select throws_ok(
  $$select ops.break_glass('pgtap: force the percentage');
    update public.feature_flags set rollout_percent = 100 where key = 'pgtap.guarded'$$,
  '55000', null, 'break glass does not move it either'
);
select is(
  (select rollout_percent from public.feature_flags where key = 'pgtap.guarded'), 5,
  'nothing was written'
);
select lives_ok(
  $$update public.feature_flags set enabled = false where key = 'pgtap.guarded'$$,
  'the kill switch stays free'
);
select lives_ok(
  $$update public.feature_flags set rollout_percent = 5, description = 'same percent' where key = 'pgtap.guarded'$$,
  'an update that leaves the percentage as it is passes'
);
select is(
  (select status || ' ' || percent from ops.halt_rollout((select id from t_g), 'abort', '{"by": "pgtap"}')),
  'aborted 0', 'the rollout''s own abort returns the flag to 0 %'
);
select lives_ok(
  $$update public.feature_flags set rollout_percent = 30 where key = 'pgtap.guarded'$$,
  'once the rollout ended, the percentage is free again'
);

select * from finish();
rollback;
