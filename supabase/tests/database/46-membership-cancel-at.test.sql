-- 20261205000500: memberships.cancel_at (the scheduled end) and stripe.events.api_version.
-- RLS of memberships is unchanged: a user reads their own cancel_at and cannot change it.
-- Through stripe.ingest_event as the service role: the period is the tier item's (a yearly
-- add-on does not extend a monthly tier), cancel_at reaches the membership, an event of an
-- API version without item periods takes the subscription's, and the ledger records versions.
begin;
\ir _setup.psql
select plan(13);

select has_column('public', 'memberships', 'cancel_at', 'memberships have cancel_at');
select col_type_is('public', 'memberships', 'cancel_at', 'timestamp with time zone', 'cancel_at is a timestamptz');
select has_column('stripe', 'events', 'api_version', 'the ledger has api_version');

insert into public.membership_tiers (slug, name) values ('zz-ca', 'Zz cancel_at');
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
select id, 'zz_ca_monthly', 'usd', 1000, 'month', 'price_zzca' from public.membership_tiers where slug = 'zz-ca';
select stripe.link_customer('cus_zzca', pg_temp.uid('viewer'), 'test');
select stripe.link_customer('cus_zzcb', pg_temp.uid('nonmember'), 'test');

create function pg_temp.item(id text, price text, period_end bigint) returns jsonb
language sql as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', id, 'object', 'subscription_item', 'quantity', 1, 'current_period_end', period_end,
    'price', jsonb_build_object('id', price, 'object', 'price', 'lookup_key', null)
  ))
$$;

create function pg_temp.ingest(event_id text, api_version text, sub jsonb) returns text
language sql as $$
  select stripe.ingest_event(
    jsonb_build_object('id', event_id, 'type', 'customer.subscription.updated', 'created', 1000,
                       'livemode', false, 'object_id', sub ->> 'id', 'api_version', api_version),
    jsonb_build_object('action', 'sync', 'kind', 'subscription', 'deleted', false, 'object',
      sub || '{"object": "subscription", "status": "active", "cancel_at_period_end": false}')
  ) ->> 'outcome'
$$;

select pg_temp.act_as('service_role');
select is(
  pg_temp.ingest('evt_zzca1', '2026-10-28.endive', jsonb_build_object(
    'id', 'sub_zzca', 'customer', 'cus_zzca', 'cancel_at', 1802592000,
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(
      pg_temp.item('si_zzcaaddon', 'price_zzaddon', 1830000000),
      pg_temp.item('si_zzcatier', 'price_zzca', 1802592000)
    ))
  )),
  'processed',
  'a two-interval subscription with cancel_at is processed'
);
select results_eq(
  $$select current_period_end, cancel_at from public.memberships where stripe_subscription_id = 'sub_zzca'$$,
  $$values (to_timestamp(1802592000), to_timestamp(1802592000))$$,
  'the period is the tier item''s and the membership shows cancel_at'
);
select is(
  (select api_version from stripe.events where id = 'evt_zzca1'), '2026-10-28.endive',
  'the ledger records the event''s API version'
);
select is(
  pg_temp.ingest('evt_zzcb1', '2025-02-24.acacia', jsonb_build_object(
    'id', 'sub_zzcb', 'customer', 'cus_zzcb', 'cancel_at', null, 'current_period_end', 1801000000,
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(
      pg_temp.item('si_zzcbtier', 'price_zzca', null)
    ))
  )),
  'processed',
  'an event of an older API version is processed'
);
select results_eq(
  $$select current_period_end, cancel_at from public.memberships where stripe_subscription_id = 'sub_zzcb'$$,
  $$values (to_timestamp(1801000000), null::timestamptz)$$,
  'without item periods the subscription''s period is the membership''s; no cancel_at'
);
select is(
  (select api_version from stripe.events where id = 'evt_zzcb1'), '2025-02-24.acacia',
  'the older version is recorded'
);
select stripe.record_failure(
  '{"id": "evt_zzcc1", "type": "customer.subscription.updated", "created": 1000, "livemode": false,
    "object_id": "sub_zzcc", "api_version": "2024-06-20"}',
  'test failure'
);
select is(
  (select api_version from stripe.events where id = 'evt_zzcc1'), '2024-06-20',
  'a failed event records its version too'
);
reset role;

-- RLS: unchanged for the new column.
select pg_temp.act_as('viewer');
select results_eq(
  'select stripe_subscription_id, cancel_at from public.memberships',
  $$values ('sub_zzca'::text, to_timestamp(1802592000))$$,
  'a user reads their own cancel_at and no one else''s membership'
);
select throws_ok(
  $$update public.memberships set cancel_at = null$$,
  '42501', null, 'a user cannot change their cancel_at'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok('select cancel_at from public.memberships', '42501', null, 'anon cannot read cancel_at');
reset role;

select * from finish();
rollback;
