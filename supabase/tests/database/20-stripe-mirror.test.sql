-- The stripe mirror: RLS on every table; a user reads only their own customer, link,
-- subscriptions and items; ops members read everything; anon reads nothing; nobody but the
-- Stripe sync role (and service_role) writes; the sync role reaches nothing outside its path.
begin;
\ir _setup.psql
select plan(27);

-- Fixtures, as postgres: a second plain user, two linked customers with a subscription each.
insert into t_users (label, email) values ('other', 'other@stagecoach.test');
insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
select '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email, '{}', '{}', now(), now()
from t_users where label = 'other';

insert into stripe.products (id, name, data) values ('prod_zz1', 'Zz', '{"id": "prod_zz1", "object": "product"}');
insert into stripe.prices (id, product_id, data) values ('price_zz1', 'prod_zz1', '{"id": "price_zz1", "object": "price"}');
insert into stripe.customers (id, email, data) values
  ('cus_zz1', 'a@x.test', '{"id": "cus_zz1", "object": "customer"}'),
  ('cus_zz2', 'b@x.test', '{"id": "cus_zz2", "object": "customer"}');
insert into stripe.customer_links (customer_id, user_id, source) values
  ('cus_zz1', pg_temp.uid('nonmember'), 'test'),
  ('cus_zz2', pg_temp.uid('other'), 'test');
insert into stripe.subscriptions (id, customer_id, status, data) values
  ('sub_zz1', 'cus_zz1', 'active', '{"id": "sub_zz1", "object": "subscription"}'),
  ('sub_zz2', 'cus_zz2', 'active', '{"id": "sub_zz2", "object": "subscription"}');
insert into stripe.subscription_items (id, subscription_id, price_id, data) values
  ('si_zz1', 'sub_zz1', 'price_zz1', '{"id": "si_zz1"}'),
  ('si_zz2', 'sub_zz2', 'price_zz1', '{"id": "si_zz2"}');
insert into stripe.events (id, type, created) values ('evt_zz1', 'product.created', now());

select is(
  (select count(*)::int from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
   where n.nspname = 'stripe' and c.relkind = 'r' and not c.relrowsecurity),
  0,
  'RLS is enabled on every stripe table'
);

-- A signed-in user ---------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select results_eq($$select id from stripe.customers where id like 'cus_zz%'$$, array['cus_zz1'],
  'a user reads only their own customer');
select results_eq($$select customer_id from stripe.customer_links where customer_id like 'cus_zz%'$$,
  array['cus_zz1'], 'a user reads only their own customer link');
select results_eq($$select id from stripe.subscriptions where id like 'sub_zz%'$$, array['sub_zz1'],
  'a user reads only their own subscriptions');
select results_eq($$select id from stripe.subscription_items where id like 'si_zz%'$$, array['si_zz1'],
  'a user reads only their own subscription items');
select is_empty($$select 1 from stripe.products$$, 'a user does not read mirrored products');
select is_empty($$select 1 from stripe.prices$$, 'a user does not read mirrored prices');
select is_empty($$select 1 from stripe.events$$, 'a user does not read the event ledger');
select throws_ok($$insert into stripe.customers (id, data) values ('cus_zzx', '{}')$$,
  '42501', null, 'a user cannot add customers');
select throws_ok($$update stripe.subscriptions set status = 'active'$$,
  '42501', null, 'a user cannot change subscriptions');
select throws_ok($$insert into stripe.customer_links (customer_id, user_id, source) values ('cus_zz2', auth.uid(), 'me')$$,
  '42501', null, 'a user cannot link a customer to themselves');
select throws_ok($$select stripe.ingest_event('{}'::jsonb, '{}'::jsonb)$$,
  '42501', null, 'a user cannot call the webhook''s entry point');
reset role;

-- Ops members ----------------------------------------------------------------------------------

select pg_temp.act_as('viewer');
select results_eq($$select count(*)::int from stripe.customers where id like 'cus_zz%'$$, array[2],
  'an ops viewer reads every customer');
select results_eq($$select count(*)::int from stripe.subscriptions where id like 'sub_zz%'$$, array[2],
  'an ops viewer reads every subscription');
select isnt_empty($$select 1 from stripe.products where id = 'prod_zz1'$$, 'an ops viewer reads products');
select isnt_empty($$select 1 from stripe.events where id = 'evt_zz1'$$, 'an ops viewer reads the ledger');
select throws_ok($$update stripe.products set name = 'x'$$, '42501', null,
  'an ops viewer cannot change the mirror');
reset role;

select pg_temp.act_as('admin');
select throws_ok($$delete from stripe.events$$, '42501', null, 'not even an admin deletes ledger rows');
reset role;

-- anon ---------------------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok($$select 1 from stripe.customers$$, '42501', null, 'anon cannot read customers');
select throws_ok($$select 1 from stripe.products$$, '42501', null, 'anon cannot read products');
reset role;

-- service_role and the Stripe sync role -------------------------------------------------------------

select pg_temp.act_as('service_role');
select lives_ok($$update stripe.subscriptions set status = 'past_due' where id = 'sub_zz2'$$,
  'service_role can change the mirror');
reset role;

-- (pgTAP lives in `extensions`; the role needs to reach it for the assertions only.)
grant usage on schema extensions to stagecoach_stripe_sync;
set local role stagecoach_stripe_sync;
select lives_ok(
  $$insert into stripe.products (id, name, data) values ('prod_zz2', 'Sync', '{"id": "prod_zz2"}')$$,
  'the Stripe sync role writes the mirror'
);
select lives_ok($$select 1 from public.tier_prices limit 1$$, 'the Stripe sync role reads tier prices');
select throws_ok($$select 1 from ops.members$$, '42501', null, 'the Stripe sync role cannot read ops members');
select throws_ok($$select 1 from auth.users$$, '42501', null, 'the Stripe sync role cannot read auth.users');
select throws_ok($$delete from public.memberships$$, '42501', null, 'the Stripe sync role cannot delete memberships');
select throws_ok($$delete from stripe.customers$$, '42501', null, 'the Stripe sync role cannot delete mirror rows');
reset role;

select * from finish();
rollback;
