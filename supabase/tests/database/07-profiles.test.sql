-- public.profiles: created for every new auth user; a user reads and edits only their own.
begin;
-- pgTAP lives in `extensions`, as on Supabase. Installing it inside the test transaction (a
-- no-op when the runner already did) means the rollback leaves no pgTAP behind for `db lint`.
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(15);

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

insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000a001', 'authenticated', 'authenticated', 'zz-meta@stagecoach.test',
        '{"display_name": "Zed", "full_name": "Zed Zimmermann"}', now(), now());

select results_eq(
  $$select display_name, full_name from public.profiles where id = '00000000-0000-4000-8000-00000000a001'$$,
  $$values ('Zed', 'Zed Zimmermann')$$,
  'a new auth user gets a profile from their metadata'
);
select results_eq(
  format('select display_name from public.profiles where id = %L', pg_temp.uid('nonmember')),
  array['nonmember'],
  'without metadata the display name comes from the email'
);

-- A signed-in user ---------------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select results_eq(
  'select id from public.profiles',
  array[pg_temp.uid('nonmember')],
  'a user reads only their own profile'
);
select lives_ok(
  $$update public.profiles set display_name = 'Nina', marketing_opt_in = true,
           address = '{"city": "Oslo", "country": "NO"}' where id = (select auth.uid())$$,
  'a user can update their own profile'
);
select results_eq(
  'select display_name, marketing_opt_in from public.profiles',
  $$values ('Nina', true)$$,
  'the update was stored'
);
update public.profiles set display_name = 'Hacked' where id = pg_temp.uid('viewer');
select throws_ok(
  format('update public.profiles set id = %L where id = auth.uid()', pg_temp.uid('viewer')),
  '42501', null, 'a user cannot change the id of their profile'
);
select throws_ok(
  $$insert into public.profiles (id) values ('00000000-0000-4000-8000-00000000a002')$$,
  '42501', null, 'a user cannot create profiles'
);
select throws_ok(
  'delete from public.profiles where id = auth.uid()',
  '42501', null, 'a user cannot delete their profile'
);
reset role;
select results_eq(
  format('select display_name from public.profiles where id = %L', pg_temp.uid('viewer')),
  array['viewer'],
  'a user cannot update someone else''s profile'
);

-- Ops roles do not widen access to personal data ------------------------------------------------------

select pg_temp.act_as('admin');
select results_eq(
  'select id from public.profiles',
  array[pg_temp.uid('admin')],
  'an ops admin reads only their own profile'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok('select id from public.profiles', '42501', null, 'anon cannot read profiles');
select throws_ok(
  $$update public.profiles set display_name = 'x'$$,
  '42501', null, 'anon cannot update profiles'
);
reset role;

select pg_temp.act_as('service_role');
select results_eq(
  $$select count(*)::integer from public.profiles where id in (select id from pg_temp.t_users)$$,
  array[5],
  'service_role reads every profile'
);
select lives_ok(
  format('update public.profiles set phone = ''+4700000000'' where id = %L', pg_temp.uid('viewer')),
  'service_role can update any profile'
);
reset role;

delete from auth.users where id = pg_temp.uid('viewer');
select is_empty(
  format('select 1 from public.profiles where id = %L', pg_temp.uid('viewer')),
  'deleting the auth user deletes the profile'
);

select * from finish();
rollback;
