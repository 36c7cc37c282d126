-- ops.heartbeats: the ops-worker (service role) upserts its heartbeat; ops members read it.
begin;
-- pgTAP lives in `extensions`, as on Supabase. Installing it inside the test transaction (a
-- no-op when the runner already did) means the rollback leaves no pgTAP behind for `db lint`.
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(8);

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

select pg_temp.act_as('service_role');
select lives_ok(
  $$insert into ops.heartbeats (component, beat_at, details)
    values ('zz-worker', now() - interval '1 minute', '{"processed": 1}')
    on conflict (component) do update set beat_at = excluded.beat_at, details = excluded.details$$,
  'service_role can record a heartbeat'
);
select lives_ok(
  $$insert into ops.heartbeats (component, beat_at, details)
    values ('zz-worker', now(), '{"processed": 2}')
    on conflict (component) do update set beat_at = excluded.beat_at, details = excluded.details$$,
  'service_role can upsert the same heartbeat again'
);
select results_eq(
  $$select details ->> 'processed' from ops.heartbeats where component = 'zz-worker'$$,
  array['2'],
  'the upsert replaced the previous heartbeat'
);
reset role;

select pg_temp.act_as('viewer');
select results_eq(
  $$select component from ops.heartbeats where component = 'zz-worker'$$,
  array['zz-worker'],
  'a viewer reads heartbeats'
);
reset role;

select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.heartbeats (component) values ('zz-fake')$$,
  '42501', null, 'an operator cannot forge a heartbeat'
);
select throws_ok(
  $$update ops.heartbeats set beat_at = now() + interval '1 day'$$,
  '42501', null, 'an operator cannot change a heartbeat'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.heartbeats$$, 'a non-member reads no heartbeats');
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.heartbeats$$, '42501', null, 'anon cannot read heartbeats');
reset role;

select * from finish();
rollback;
