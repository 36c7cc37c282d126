-- 20261206000300: stripe.ingest_events guards and writes in one statement and derives the
-- membership with stripe.write_membership. Privileges: write_membership runs only inside the
-- Stripe sync role's entry points (no role may call it); the entry point keeps its fixed
-- search_path. Behaviour through stripe.ingest_event as the service role: same-second tie,
-- stale and repeated events and their ledger rows, a failed event retried; an unchanged object keeps synced_at while its event moves on; a
-- changed one is rewritten; a deleted stub keeps the last object; an updated subscription
-- drops the items it no longer has; a paid subscription supersedes a free membership, and
-- another live subscription leaves the event unresolved.
begin;
\ir _setup.psql
select plan(24);

select has_function(
  'stripe', 'write_membership',
  array['text', 'text', 'text', 'timestamp with time zone', 'boolean', 'timestamp with time zone', 'text'],
  'stripe.write_membership exists'
);
select function_owner_is(
  'stripe', 'write_membership',
  array['text', 'text', 'text', 'timestamp with time zone', 'boolean', 'timestamp with time zone', 'text'],
  'stagecoach_stripe_sync', 'write_membership is owned by the Stripe sync role'
);
select ok(
  not has_function_privilege('anon', 'stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)', 'execute')
  and not has_function_privilege('authenticated', 'stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)', 'execute')
  and not has_function_privilege('service_role', 'stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)', 'execute'),
  'no API role may call write_membership'
);
select ok(
  not has_function_privilege('anon', 'stripe.ingest_events(jsonb)', 'execute')
  and not has_function_privilege('authenticated', 'stripe.ingest_events(jsonb)', 'execute')
  and has_function_privilege('service_role', 'stripe.ingest_events(jsonb)', 'execute'),
  'ingest_events: the service role only'
);
select ok(
  (select p.prosecdef and p.proconfig = array['search_path=""']::text[]
     from pg_proc as p where p.oid = 'stripe.ingest_events(jsonb)'::regprocedure),
  'ingest_events is SECURITY DEFINER with a fixed search_path'
);

insert into public.membership_tiers (slug, name) values ('zz-is', 'Zz ingest statements'), ('zz-free', 'Zz free');
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
select id, 'zz_is_monthly', 'usd', 1000, 'month', 'price_zzis' from public.membership_tiers where slug = 'zz-is';
select stripe.link_customer('cus_zzis', pg_temp.uid('viewer'), 'test');
select stripe.link_customer('cus_zzis2', pg_temp.uid('viewer'), 'test');
insert into public.memberships (user_id, tier_id, status)
select pg_temp.uid('viewer'), id, 'active' from public.membership_tiers where slug = 'zz-free';

create function pg_temp.ingest(event_id text, created bigint, kind text, obj jsonb, deleted boolean default false)
returns jsonb
language sql as $$
  select stripe.ingest_event(
    jsonb_build_object('id', event_id, 'type', kind || '.updated', 'created', created,
                       'livemode', false, 'object_id', obj ->> 'id'),
    jsonb_build_object('action', 'sync', 'kind', kind, 'deleted', deleted, 'object', obj)
  )
$$;

create function pg_temp.sub(id text, customer text, items text[]) returns jsonb
language sql as $$
  select jsonb_build_object(
    'id', id, 'object', 'subscription', 'customer', customer, 'status', 'active',
    'cancel_at_period_end', false,
    'items', jsonb_build_object('object', 'list', 'data', (
      select jsonb_agg(jsonb_build_object(
        'id', i, 'object', 'subscription_item', 'quantity', 1, 'current_period_end', 1802592000,
        'price', jsonb_build_object('id', 'price_zzis', 'object', 'price')
      ) order by n)
      from unnest(items) with ordinality as u (i, n)
    ))
  )
$$;

select pg_temp.act_as('service_role');

-- Customers: the guard and the write.
select is(
  pg_temp.ingest('evt_zzis1', 1000, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "a@x.test"}') ->> 'outcome',
  'processed', 'a new customer is processed'
);
select is(
  pg_temp.ingest('evt_zzis1', 1000, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "a@x.test"}') ->> 'outcome',
  'duplicate', 'the same event again is a duplicate'
);
select is(
  pg_temp.ingest('evt_zzis0', 999, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "old@x.test"}') ->> 'outcome',
  'stale', 'an older event is stale and writes nothing'
);
select is(
  pg_temp.ingest('evt_zzis1b', 1000, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "b@x.test"}') ->> 'outcome',
  'fetch', 'another event of the same second asks for a re-read'
);
select results_eq(
  $$select email, event_id from stripe.customers where id = 'cus_zzisx'$$,
  $$values ('a@x.test', 'evt_zzis1')$$,
  'neither the stale nor the tied event wrote the row'
);

select results_eq(
  $$select id, status, attempts, processed_at is null from stripe.events
     where id in ('evt_zzis1', 'evt_zzis0', 'evt_zzis1b') order by id$$,
  $$values ('evt_zzis0', 'processed', 1, false), ('evt_zzis1', 'processed', 2, false),
           ('evt_zzis1b', 'processing', 1, true)$$,
  'the ledger: a duplicate counts an attempt, a stale event is processed, a tie waits for its re-read'
);

reset role;
insert into stripe.events (id, type, object_id, created, status, error, processed_at)
values ('evt_zzisf', 'customer.updated', 'cus_zzisf', to_timestamp(1000), 'failed', 'boom', now());
select pg_temp.act_as('service_role');
select pg_temp.ingest('evt_zzisf', 1000, 'customer', '{"id": "cus_zzisf", "object": "customer", "email": "f@x.test"}');
select results_eq(
  $$select status, error, attempts from stripe.events where id = 'evt_zzisf'$$,
  $$values ('processed', null::text, 2)$$,
  'a failed event retried is processed, its error cleared, its attempts counted'
);

reset role;
update stripe.customers set synced_at = '2000-01-01' where id = 'cus_zzisx';
select pg_temp.act_as('service_role');
select is(
  pg_temp.ingest('evt_zzis2', 1001, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "a@x.test"}') ->> 'outcome',
  'processed', 'a newer event of an unchanged customer is processed'
);
select results_eq(
  $$select synced_at, event_id, event_created from stripe.customers where id = 'cus_zzisx'$$,
  $$values ('2000-01-01'::timestamptz, 'evt_zzis2', to_timestamp(1001))$$,
  'an unchanged object keeps synced_at; its event moves on'
);
select pg_temp.ingest('evt_zzis3', 1002, 'customer', '{"id": "cus_zzisx", "object": "customer", "email": "c@x.test"}');
select results_eq(
  $$select email, synced_at = now() from stripe.customers where id = 'cus_zzisx'$$,
  $$values ('c@x.test', true)$$,
  'a changed object is rewritten'
);
select pg_temp.ingest('evt_zzis4', 1003, 'customer', '{"id": "cus_zzisx", "object": "customer", "deleted": true}');
select results_eq(
  $$select email, deleted, event_id from stripe.customers where id = 'cus_zzisx'$$,
  $$values ('c@x.test', true, 'evt_zzis4')$$,
  'a deleted stub marks the row deleted and keeps the last object'
);

-- Subscriptions: items and memberships.
select is(
  pg_temp.ingest('evt_zzis10', 2000, 'subscription', pg_temp.sub('sub_zzis', 'cus_zzis', array['si_zzis1', 'si_zzis2'])),
  '{"outcome": "processed", "error": null}'::jsonb,
  'a new subscription of a linked customer at a tier price is processed'
);
select results_eq(
  $$select t.slug, m.status::text from public.memberships as m join public.membership_tiers as t on t.id = m.tier_id
     where m.user_id = pg_temp.uid('viewer') order by t.slug$$,
  $$values ('zz-free', 'canceled'), ('zz-is', 'active')$$,
  'the paid membership supersedes the free one'
);
select results_eq(
  $$select id, deleted from stripe.subscription_items where subscription_id = 'sub_zzis' order by id$$,
  $$values ('si_zzis1', false), ('si_zzis2', false)$$,
  'a new subscription has its items'
);
select is(
  pg_temp.ingest('evt_zzis11', 2001, 'subscription', pg_temp.sub('sub_zzis', 'cus_zzis', array['si_zzis2'])) ->> 'outcome',
  'processed', 'an updated subscription is processed'
);
select results_eq(
  $$select id, deleted, position from stripe.subscription_items where subscription_id = 'sub_zzis' order by id$$,
  $$values ('si_zzis1', true, 0), ('si_zzis2', false, 0)$$,
  'an updated subscription drops the item it no longer has'
);
select is(
  pg_temp.ingest('evt_zzis20', 2000, 'subscription', pg_temp.sub('sub_zzis2', 'cus_zzis2', array['si_zzis3'])),
  jsonb_build_object('outcome', 'unresolved', 'error', format(
    'Cannot set the membership of sub_zzis2: user %s already has a live membership (sub_zzis)',
    pg_temp.uid('viewer')
  )),
  'a second live subscription of the user is unresolved, naming the first'
);
select results_eq(
  $$select status, error is not null from stripe.events where id = 'evt_zzis20'$$,
  $$values ('unresolved', true)$$,
  'the ledger keeps it unresolved with its reason'
);
select is(
  (select membership_error from stripe.subscriptions where id = 'sub_zzis2'),
  format('Cannot set the membership of sub_zzis2: user %s already has a live membership (sub_zzis)', pg_temp.uid('viewer')),
  'the subscription records the reason'
);

select * from finish();
rollback;
