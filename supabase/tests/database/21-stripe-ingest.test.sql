-- The webhook's entry point, stripe.ingest_event, as the service role: a duplicate has no
-- second effect, an older event never overwrites newer state, a same-second event asks for a
-- re-fetch, an unknown type is ignored, and memberships follow linked, priced subscriptions
-- (or record why they cannot).
begin;
\ir _setup.psql
select plan(16);

insert into public.membership_tiers (slug, name) values ('zz-pro', 'Zz Pro');
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
select id, 'zz_pro_monthly', 'usd', 1000, 'month', 'price_zzpro' from public.membership_tiers where slug = 'zz-pro';

create function pg_temp.ev(id text, type text, created bigint, object_id text default null) returns jsonb
language sql as $$
  select jsonb_build_object('id', id, 'type', type, 'created', created, 'livemode', false, 'object_id', object_id)
$$;

create function pg_temp.sub(status text, cancel boolean, price text) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', 'sub_zzA', 'object', 'subscription', 'customer', 'cus_zzA', 'status', status,
    'cancel_at_period_end', cancel,
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_zzA', 'object', 'subscription_item', 'quantity', 1, 'current_period_end', 1900000000,
      'price', jsonb_build_object('id', price, 'object', 'price', 'lookup_key', null)
    )))
  )
$$;

select pg_temp.act_as('service_role');

select is(
  stripe.ingest_event(pg_temp.ev('evt_zz1', 'customer.created', 1000),
    '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_zzA", "object": "customer", "email": "a@zz.test"}}') ->> 'outcome',
  'processed', 'a new event is processed');
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz1', 'customer.created', 1000),
    '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_zzA", "object": "customer", "email": "changed@zz.test"}}') ->> 'outcome',
  'duplicate', 'the same event again is a duplicate');
select is((select email from stripe.customers where id = 'cus_zzA'), 'a@zz.test', '... and has no second effect');
select is((select attempts from stripe.events where id = 'evt_zz1'), 2, '... but counts the delivery');

select is(
  stripe.ingest_event(pg_temp.ev('evt_zz2', 'customer.updated', 1010),
    '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_zzA", "object": "customer", "email": "new@zz.test"}}') ->> 'outcome',
  'processed', 'a newer event is applied');
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz3', 'customer.updated', 1005),
    '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_zzA", "object": "customer", "email": "old@zz.test"}}') ->> 'outcome',
  'stale', 'an older event is stale');
select is((select email from stripe.customers where id = 'cus_zzA'), 'new@zz.test', '... and never overwrites newer state');
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz4', 'customer.updated', 1010),
    '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_zzA", "object": "customer", "email": "tie@zz.test"}}') #>> '{fetch,id}',
  'cus_zzA', 'an event of the same second asks for a re-fetch instead of guessing');
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz5', 'charge.succeeded', 1020), '{"action": "ignore"}') ->> 'outcome',
  'ignored', 'an unhandled type is ignored');
select is((select status from stripe.events where id = 'evt_zz5'), 'ignored', '... and recorded as ignored');

-- Memberships: an unlinked customer is an error to reconcile, then the link resolves it.
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz6', 'customer.subscription.created', 1030, 'sub_zzA'),
    jsonb_build_object('action', 'sync', 'kind', 'subscription', 'deleted', false,
                       'object', pg_temp.sub('active', false, 'price_zzpro'))) ->> 'outcome',
  'unresolved', 'a subscription of an unlinked customer is unresolved');
select matches((select membership_error from stripe.subscriptions where id = 'sub_zzA'),
  'not linked to a user', '... and says why');
select is(
  stripe.ingest_event(pg_temp.ev('evt_zz7', 'checkout.session.completed', 1031, 'sub_zzA'),
    jsonb_build_object('action', 'link', 'customer', 'cus_zzA', 'user', pg_temp.uid('nonmember'),
                       'subscription', 'sub_zzA', 'source', 'test')) ->> 'outcome',
  'processed', 'the checkout link is processed');
select results_eq(
  $$select t.slug, m.status::text, m.cancel_at_period_end
      from public.memberships as m join public.membership_tiers as t on t.id = m.tier_id
     where m.stripe_subscription_id = 'sub_zzA'$$,
  $$values ('zz-pro', 'active', false)$$,
  'the membership follows the subscription once the customer is linked');
select is((select status from stripe.events where id = 'evt_zz6'), 'processed',
  'the waiting event is settled');

select is(
  stripe.ingest_event(pg_temp.ev('evt_zz8', 'customer.subscription.updated', 1040, 'sub_zzA'),
    jsonb_build_object('action', 'sync', 'kind', 'subscription', 'deleted', false,
                       'object', pg_temp.sub('active', false, 'price_unknown'))) ->> 'error',
  'Cannot set the membership of sub_zzA: price price_unknown (lookup key none) is not a tier price',
  'a price of no tier is recorded as an error, never dropped');
reset role;

select * from finish();
rollback;
