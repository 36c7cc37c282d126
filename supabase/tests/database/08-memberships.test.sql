-- public.memberships: written by the service role (Stripe mirror); a user reads only their
-- own; at most one live membership per user.
begin;
\ir _setup.psql
select plan(14);

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
