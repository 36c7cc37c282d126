-- The catalog (membership_tiers, tier_features, tier_prices): anyone reads what is active
-- (the pricing page), ops members read everything, only operators and admins write.
begin;
\ir _setup.psql
select plan(29);

insert into public.membership_tiers (slug, name, sort_order, active)
values ('zz-active', 'Active test tier', 1000, true), ('zz-hidden', 'Hidden test tier', 1001, false);
insert into public.tier_features (tier_id, feature_key, value)
select id, 'zz.seats', '5' from public.membership_tiers where slug in ('zz-active', 'zz-hidden');
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, active)
select t.id, p.lookup_key, 'usd', 1000, 'month', p.active
from (values ('zz-active', 'zz_active_monthly', true), ('zz-active', 'zz_active_old', false),
             ('zz-hidden', 'zz_hidden_monthly', true)) as p (slug, lookup_key, active)
join public.membership_tiers as t on t.slug = p.slug;

-- The test rows as seen by the current role.
create function pg_temp.visible_catalog() returns text[]
language sql stable
as $$
  select array(
    select x from (
      select 'tier:' || slug as x from public.membership_tiers where slug like 'zz-%'
      union all
      select 'feature:' || t.slug from public.tier_features as f
        join public.membership_tiers as t on t.id = f.tier_id
       where f.feature_key = 'zz.seats'
      union all
      select 'price:' || lookup_key from public.tier_prices where lookup_key like 'zz\_%'
    ) as v order by x
  )
$$;

-- Feature rows of inactive tiers are checked without the join (which RLS would also filter).
create function pg_temp.visible_features() returns bigint
language sql stable
as $$ select count(*) from public.tier_features where feature_key = 'zz.seats' $$;

-- anon: the pricing page -------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select is(
  pg_temp.visible_catalog(),
  array['feature:zz-active', 'price:zz_active_monthly', 'tier:zz-active'],
  'anon reads active tiers, their features and active prices only'
);
select is(pg_temp.visible_features(), 1::bigint, 'anon does not see features of inactive tiers');
select throws_ok(
  $$insert into public.membership_tiers (slug, name) values ('zz-anon', 'Nope')$$,
  '42501', null, 'anon cannot create tiers'
);
select throws_ok(
  $$update public.tier_prices set unit_amount = 1 where lookup_key = 'zz_active_monthly'$$,
  '42501', null, 'anon cannot change prices'
);
select throws_ok(
  $$delete from public.tier_features where feature_key = 'zz.seats'$$,
  '42501', null, 'anon cannot delete features'
);
reset role;

-- Signed-in non-member -----------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select is(
  pg_temp.visible_catalog(),
  array['feature:zz-active', 'price:zz_active_monthly', 'tier:zz-active'],
  'a signed-in user reads active tiers, their features and active prices only'
);
select is(pg_temp.visible_features(), 1::bigint, 'a signed-in user does not see features of inactive tiers');
select throws_ok(
  $$insert into public.membership_tiers (slug, name) values ('zz-user', 'Nope')$$,
  '42501', null, 'a signed-in user cannot create tiers'
);
update public.tier_prices set unit_amount = 1 where lookup_key = 'zz_active_monthly';
delete from public.membership_tiers where slug = 'zz-active';
reset role;
select results_eq(
  $$select p.unit_amount, t.slug from public.tier_prices as p
      join public.membership_tiers as t on t.id = p.tier_id where p.lookup_key = 'zz_active_monthly'$$,
  $$values (1000::bigint, 'zz-active')$$,
  'a signed-in user''s update and delete change nothing'
);

-- Viewer and approver: read everything, write nothing ------------------------------------------------

select pg_temp.act_as('viewer');
select is(
  pg_temp.visible_catalog(),
  array['feature:zz-active', 'feature:zz-hidden', 'price:zz_active_monthly', 'price:zz_active_old',
        'price:zz_hidden_monthly', 'tier:zz-active', 'tier:zz-hidden'],
  'a viewer reads inactive tiers, features and prices too'
);
select throws_ok(
  $$insert into public.tier_features (tier_id, feature_key, value)
    select id, 'zz.viewer', 'true' from public.membership_tiers where slug = 'zz-active'$$,
  '42501', null, 'a viewer cannot create features'
);
update public.membership_tiers set active = true where slug = 'zz-hidden';
reset role;
select results_eq(
  $$select active from public.membership_tiers where slug = 'zz-hidden'$$,
  array[false],
  'a viewer cannot activate a tier'
);

select pg_temp.act_as('approver');
select is(pg_temp.visible_features(), 2::bigint, 'an approver reads every feature');
select throws_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select id, 'zz_approver', 'usd', 1, 'month' from public.membership_tiers where slug = 'zz-active'$$,
  '42501', null, 'an approver cannot create prices'
);
delete from public.tier_prices where lookup_key = 'zz_active_old';
reset role;
select isnt_empty(
  $$select 1 from public.tier_prices where lookup_key = 'zz_active_old'$$,
  'an approver cannot delete prices'
);

-- Operator: writes -------------------------------------------------------------------------------

select pg_temp.act_as('operator');
select lives_ok(
  $$insert into public.membership_tiers (slug, name, sort_order) values ('zz-new', 'New tier', 1002)$$,
  'an operator can create a tier'
);
select lives_ok(
  $$insert into public.tier_features (tier_id, feature_key, value)
    select id, 'zz.seats', '10' from public.membership_tiers where slug = 'zz-new'$$,
  'an operator can create a feature'
);
select lives_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select id, 'zz_new_monthly', 'usd', 2500, 'month' from public.membership_tiers where slug = 'zz-new'$$,
  'an operator can create a price'
);
select lives_ok(
  $$update public.membership_tiers set active = true where slug = 'zz-hidden'$$,
  'an operator can change a tier'
);
select lives_ok(
  $$delete from public.tier_prices where lookup_key = 'zz_active_old'$$,
  'an operator can delete a price'
);
reset role;
select results_eq(
  $$select (select active from public.membership_tiers where slug = 'zz-hidden'),
           (select count(*) from public.tier_prices where lookup_key in ('zz_active_old', 'zz_new_monthly'))$$,
  $$values (true, 1::bigint)$$,
  'the operator''s changes were stored'
);

-- Admin and service_role -----------------------------------------------------------------------------

select pg_temp.act_as('admin');
select lives_ok(
  $$update public.tier_features set value = '6' where feature_key = 'zz.seats'$$,
  'an admin can change features'
);
reset role;

select pg_temp.act_as('service_role');
select is(pg_temp.visible_features(), 3::bigint, 'service_role reads every feature');
select lives_ok(
  $$update public.tier_prices set stripe_price_id = 'price_zz123' where lookup_key = 'zz_new_monthly'$$,
  'service_role can map a Stripe price id'
);
reset role;

-- Integrity -------------------------------------------------------------------------------------------

select throws_ok(
  $$insert into public.membership_tiers (slug, name) values ('Not A Slug', 'x')$$,
  '23514', null, 'slugs are lower-case kebab-case'
);
select throws_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select id, 'zz_upper', 'USD', 1, 'month' from public.membership_tiers where slug = 'zz-new'$$,
  '23514', null, 'currency is lower-case ISO 4217'
);
select throws_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select id, 'zz_negative', 'usd', -1, 'month' from public.membership_tiers where slug = 'zz-new'$$,
  '23514', null, 'amounts cannot be negative'
);
select throws_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select id, 'zz_new_monthly', 'usd', 1, 'month' from public.membership_tiers where slug = 'zz-active'$$,
  '23505', null, 'lookup keys are unique'
);
delete from public.membership_tiers where slug = 'zz-new';
select is(
  (select count(*) from public.tier_prices where lookup_key = 'zz_new_monthly')
  + (select count(*) from public.tier_features f where not exists (select 1 from public.membership_tiers t where t.id = f.tier_id)),
  0::bigint,
  'deleting a tier deletes its features and prices'
);

select * from finish();
rollback;
