-- public.memberships: written by the service role (Stripe mirror); a user reads only their
-- own; at most one live membership per user.
begin;
-- pgTAP lives in `extensions`, as on Supabase. Installing it inside the test transaction (a
-- no-op when the runner already did) means the rollback leaves no pgTAP behind for `db lint`.
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(14);

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

insert into public.membership_tiers (slug, name) values ('zz-tier', 'Test tier');
insert into public.memberships (user_id, tier_id, status, stripe_customer_id, stripe_subscription_id)
select u.id, t.id, 'active', 'cus_zz' || u.label, 'sub_zz' || u.label
from pg_temp.t_users as u cross join public.membership_tiers as t
where t.slug = 'zz-tier' and u.label in ('nonmember', 'viewer');

-- Signed-in users ------------------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select results_eq(
  'select user_id from public.memberships',
  array[pg_temp.uid('nonmember')],
  'a user reads only their own membership'
);
select throws_ok(
  $$insert into public.memberships (user_id, tier_id, status)
    select auth.uid(), id, 'active' from public.membership_tiers where slug = 'zz-tier'$$,
  '42501', null, 'a user cannot create memberships'
);
select throws_ok(
  $$update public.memberships set status = 'active', current_period_end = now() + interval '10 years'$$,
  '42501', null, 'a user cannot change their membership'
);
select throws_ok(
  $$delete from public.memberships$$,
  '42501', null, 'a user cannot delete memberships'
);
reset role;

select pg_temp.act_as('operator');
select is_empty('select 1 from public.memberships', 'an ops operator does not read others'' memberships');
reset role;

select pg_temp.act_as('anon');
select throws_ok('select 1 from public.memberships', '42501', null, 'anon cannot read memberships');
reset role;

-- service_role (the stripe-webhook function) ----------------------------------------------------------

select pg_temp.act_as('service_role');
select results_eq(
  $$select count(*)::integer from public.memberships where user_id in (select id from pg_temp.t_users)$$,
  array[2],
  'service_role reads every membership'
);
select lives_ok(
  $$update public.memberships set status = 'past_due' where stripe_subscription_id = 'sub_zzviewer'$$,
  'service_role can update a membership'
);
select lives_ok(
  format(
    $$insert into public.memberships (user_id, tier_id, status, stripe_subscription_id)
      select %L, id, 'trialing', 'sub_zzoperator' from public.membership_tiers where slug = 'zz-tier'$$,
    pg_temp.uid('operator')
  ),
  'service_role can create a membership'
);
reset role;

-- Integrity ---------------------------------------------------------------------------------------------

select throws_ok(
  format(
    $$insert into public.memberships (user_id, tier_id, status)
      select %L, id, 'active' from public.membership_tiers where slug = 'zz-tier'$$,
    pg_temp.uid('nonmember')
  ),
  '23505', null, 'a user cannot have two live memberships'
);
update public.memberships set status = 'canceled' where stripe_subscription_id = 'sub_zznonmember';
select lives_ok(
  format(
    $$insert into public.memberships (user_id, tier_id, status)
      select %L, id, 'active' from public.membership_tiers where slug = 'zz-tier'$$,
    pg_temp.uid('nonmember')
  ),
  'a canceled membership does not block a new one'
);
select throws_ok(
  $$update public.memberships set status = 'expired' where stripe_subscription_id = 'sub_zzviewer'$$,
  '22P02', null, 'status must be a Stripe subscription status'
);
select throws_ok(
  $$delete from public.membership_tiers where slug = 'zz-tier'$$,
  '23503', null, 'a tier with memberships cannot be deleted'
);
delete from auth.users where id = pg_temp.uid('nonmember');
select is_empty(
  format('select 1 from public.memberships where user_id = %L', pg_temp.uid('nonmember')),
  'deleting the auth user deletes their memberships'
);

select * from finish();
rollback;
