-- public.profiles: created for every new auth user; a user reads and edits only their own.
begin;
\ir _setup.psql
select plan(15);

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
