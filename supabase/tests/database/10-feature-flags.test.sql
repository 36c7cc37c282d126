-- public.feature_flags: signed-in users read every flag (the app evaluates them), anon reads
-- none, only operators and admins write.
begin;
\ir _setup.psql
select plan(16);

insert into public.feature_flags (key, description, enabled, rollout_percent, targeting_rules)
values ('zz_flag', 'test flag', true, 50, '[{"attribute": "tier", "op": "eq", "value": "pro"}]');

select throws_ok(
  $$insert into public.feature_flags (key, rollout_percent) values ('zz_bad', 101)$$,
  '23514', null, 'rollout_percent is between 0 and 100'
);
select throws_ok(
  $$insert into public.feature_flags (key, targeting_rules) values ('zz_bad', '{}')$$,
  '23514', null, 'targeting_rules is a JSON array'
);

select pg_temp.act_as('anon');
select throws_ok('select key from public.feature_flags', '42501', null, 'anon cannot read flags');
select throws_ok(
  $$update public.feature_flags set enabled = false$$, '42501', null, 'anon cannot change flags'
);
reset role;

select pg_temp.act_as('nonmember');
select results_eq(
  $$select enabled, rollout_percent, targeting_rules from public.feature_flags where key = 'zz_flag'$$,
  $$values (true, 50, '[{"attribute": "tier", "op": "eq", "value": "pro"}]'::jsonb)$$,
  'a signed-in user reads flags with their targeting rules'
);
select throws_ok(
  $$insert into public.feature_flags (key) values ('zz_user')$$,
  '42501', null, 'a signed-in user cannot create flags'
);
update public.feature_flags set rollout_percent = 100 where key = 'zz_flag';
delete from public.feature_flags where key = 'zz_flag';
reset role;
select results_eq(
  $$select rollout_percent from public.feature_flags where key = 'zz_flag'$$,
  array[50],
  'a signed-in user cannot change or delete flags'
);

select pg_temp.act_as('viewer');
update public.feature_flags set enabled = false where key = 'zz_flag';
reset role;
select pg_temp.act_as('approver');
select throws_ok(
  $$insert into public.feature_flags (key) values ('zz_approver')$$,
  '42501', null, 'an approver cannot create flags'
);
update public.feature_flags set enabled = false where key = 'zz_flag';
reset role;
select results_eq(
  $$select enabled from public.feature_flags where key = 'zz_flag'$$,
  array[true],
  'viewers and approvers cannot change flags'
);

select pg_temp.act_as('operator');
select lives_ok(
  $$insert into public.feature_flags (key, description) values ('zz_new', 'new flag')$$,
  'an operator can create a flag'
);
select lives_ok(
  $$update public.feature_flags set rollout_percent = 75 where key = 'zz_flag'$$,
  'an operator can change a flag'
);
select lives_ok(
  $$delete from public.feature_flags where key = 'zz_new'$$,
  'an operator can delete a flag'
);
reset role;
select results_eq(
  $$select (select rollout_percent from public.feature_flags where key = 'zz_flag'),
           (select count(*) from public.feature_flags where key = 'zz_new')$$,
  $$values (75, 0::bigint)$$,
  'the operator''s changes were stored'
);

select pg_temp.act_as('admin');
select lives_ok(
  $$update public.feature_flags set enabled = false where key = 'zz_flag'$$,
  'an admin can change a flag'
);
reset role;

select pg_temp.act_as('service_role');
select lives_ok(
  $$insert into public.feature_flags (key) values ('zz_service')
    on conflict (key) do update set enabled = excluded.enabled$$,
  'service_role can upsert a flag'
);
select results_eq(
  $$select count(*)::integer from public.feature_flags where key in ('zz_flag', 'zz_service')$$,
  array[2],
  'service_role reads flags'
);
reset role;

select * from finish();
rollback;
