-- public.feature_flags: signed-in users read every flag (the app evaluates them), anon reads
-- none, only operators and admins write.
begin;
-- pgTAP lives in `extensions`, as on Supabase. Installing it inside the test transaction (a
-- no-op when the runner already did) means the rollback leaves no pgTAP behind for `db lint`.
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(16);

-- Test users, created inside this transaction: a signed-in non-member and one per ops role.
create temp table t_users (
  label text primary key,
  id uuid not null default gen_random_uuid(),
  email text not null
);
grant select on t_users to anon, authenticated, service_role;

insert into t_users (label, email)
select label, label || '@stagecoach.test'
from unnest(array['nonmember', 'viewer', 'operator', 'approver', 'admin']) as label;

insert into auth.users (
  instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at
)
select '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email,
       '{"provider": "email", "providers": ["email"]}', '{}', now(), now()
from t_users;

insert into ops.members (user_id, role)
select id, label::ops.member_role from t_users where label <> 'nonmember';

-- The id of a test user.
create function pg_temp.uid(who text) returns uuid
language sql stable
as $$ select id from pg_temp.t_users where label = who $$;

-- Acts as PostgREST does for a request: 'anon', 'service_role', or a test user's label
-- (role authenticated with that user's claims). `reset role` returns to postgres.
create function pg_temp.act_as(who text) returns void
language plpgsql
as $$
declare
  u record;
begin
  if who in ('anon', 'service_role') then
    perform set_config('request.jwt.claims', json_build_object('role', who)::text, true);
    execute format('set local role %I', who);
  else
    select * into strict u from pg_temp.t_users where label = who;
    perform set_config(
      'request.jwt.claims',
      json_build_object('sub', u.id, 'role', 'authenticated', 'email', u.email)::text,
      true
    );
    set local role authenticated;
  end if;
end;
$$;

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
