-- stripe.ingest_events, the webhook's batch entry point: one result per item in order, the
-- object read from the raw event body, a duplicate inside one batch has no second effect, a
-- membership settles the events that waited for it, a malformed batch writes nothing, and
-- only the service role may call it (the webhook's pool runs it as postgres).
begin;
\ir _setup.psql
select plan(17);

insert into public.membership_tiers (slug, name) values ('yy-pro', 'Yy Pro');
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
select id, 'yy_pro_monthly', 'usd', 1000, 'month', 'price_yypro' from public.membership_tiers where slug = 'yy-pro';

create function pg_temp.item(id text, type text, created bigint, plan jsonb, body jsonb default null)
returns jsonb
language sql as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'event', jsonb_build_object('id', id, 'type', type, 'created', created, 'livemode', false,
                                'object_id', coalesce(body #>> '{data,object,id}', plan #>> '{object,id}')),
    'plan', plan,
    'body', body
  ))
$$;

create function pg_temp.body(id text, object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', id, 'object', 'event', 'data', jsonb_build_object('object', object))
$$;

select pg_temp.act_as('service_role');

select is(
  stripe.ingest_events(jsonb_build_array(
    pg_temp.item('evt_yy1', 'product.created', 1000, '{"action": "sync", "kind": "product", "deleted": false}',
      pg_temp.body('evt_yy1', '{"id": "prod_yy1", "object": "product", "name": "Yy", "active": true, "metadata": {"tier_slug": "yy-pro"}}')),
    pg_temp.item('evt_yy2', 'charge.succeeded', 1001, '{"action": "ignore"}'),
    pg_temp.item('evt_yy1', 'product.created', 1000, '{"action": "sync", "kind": "product", "deleted": false}',
      pg_temp.body('evt_yy1', '{"id": "prod_yy1", "object": "product", "name": "Changed", "active": true, "metadata": {}}')),
    pg_temp.item('evt_yy3', 'customer.created', 1002,
      '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_yyA", "object": "customer", "email": "a@yy.test"}}')
  )) -> 0 ->> 'outcome' || ',' ||
  (stripe.ingest_events('[]') = '[]'::jsonb)::text,
  'processed,true',
  'a batch answers in order (an empty batch with an empty array)');
select results_eq(
  $$select id, status, attempts from stripe.events where id in ('evt_yy1', 'evt_yy2', 'evt_yy3') order by id$$,
  $$values ('evt_yy1', 'processed', 2), ('evt_yy2', 'ignored', 1), ('evt_yy3', 'processed', 1)$$,
  'every item reaches the ledger; the repeated one counts a second delivery');
select is((select name from stripe.products where id = 'prod_yy1'), 'Yy',
  'the object comes from the raw body, and a duplicate in the same batch has no second effect');
select is((select tier_slug from stripe.products where id = 'prod_yy1'), 'yy-pro', '... with its columns');
select is((select email from stripe.customers where id = 'cus_yyA'), 'a@yy.test',
  'an object carried by the plan is written too');

select is(
  stripe.ingest_events(jsonb_build_array(
    pg_temp.item('evt_yy4', 'customer.updated', 1010,
      '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_yyA", "object": "customer", "email": "new@yy.test"}}'),
    pg_temp.item('evt_yy5', 'customer.updated', 1005,
      '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_yyA", "object": "customer", "email": "old@yy.test"}}'),
    pg_temp.item('evt_yy6', 'customer.updated', 1010,
      '{"action": "sync", "kind": "customer", "deleted": false, "object": {"id": "cus_yyA", "object": "customer", "email": "tie@yy.test"}}')
  )),
  '[{"error": null, "outcome": "processed"}, {"outcome": "stale"}, {"fetch": {"id": "cus_yyA", "kind": "customer"}, "outcome": "fetch"}]'::jsonb,
  'inside one batch the ordering guard holds: newer applied, older stale, same second re-fetched');
select is((select email from stripe.customers where id = 'cus_yyA'), 'new@yy.test', '... and older state never wins');
select is((select status from stripe.events where id = 'evt_yy6'), 'processing', '... the tie waits for its fetch');

-- A subscription whose customer is not linked waits; linking it settles the waiting event.
select is(
  stripe.ingest_events(jsonb_build_array(pg_temp.item('evt_yy7', 'customer.subscription.created', 1020,
    '{"action": "sync", "kind": "subscription", "deleted": false}',
    pg_temp.body('evt_yy7', jsonb_build_object(
      'id', 'sub_yyA', 'object', 'subscription', 'customer', 'cus_yyA', 'status', 'active',
      'cancel_at_period_end', false,
      'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
        'id', 'si_yyA', 'object', 'subscription_item', 'quantity', 1, 'current_period_end', 1900000000,
        'price', jsonb_build_object('id', 'price_yypro', 'object', 'price', 'lookup_key', null)))))))))
    -> 0 ->> 'outcome',
  'unresolved', 'a subscription of an unlinked customer is unresolved');
select is(
  stripe.ingest_events(jsonb_build_array(pg_temp.item('evt_yy8', 'checkout.session.completed', 1021,
    jsonb_build_object('action', 'link', 'customer', 'cus_yyA', 'user', pg_temp.uid('viewer'),
                       'subscription', 'sub_yyA', 'source', 'checkout.session.completed:cs_yy'))))
    -> 0 ->> 'outcome',
  'processed', 'linking the customer derives the membership');
select results_eq(
  $$select status from stripe.events where id in ('evt_yy7', 'evt_yy8') order by id$$,
  $$values ('processed'), ('processed')$$,
  '... and settles the event that waited for it');

select throws_ok($$select stripe.ingest_events('{"not": "an array"}')$$,
  '22023', 'Cannot ingest Stripe events: the batch is not a JSON array', 'a batch that is not an array is refused');
select throws_ok(
  $$select stripe.ingest_events(jsonb_build_array(
      pg_temp.item('evt_yy9', 'product.created', 1030, '{"action": "sync", "kind": "product", "deleted": false, "object": {"id": "prod_yy9", "object": "product"}}'),
      pg_temp.item('evt_yy10', 'product.created', 1030, '{"action": "explode"}')))$$,
  '22023', null, 'a batch with a malformed item is refused whole ...');
reset role;
select is_empty($$select 1 from stripe.events where id in ('evt_yy9', 'evt_yy10')
                  union all select 1 from stripe.products where id = 'prod_yy9'$$,
  '... and writes nothing');

select pg_temp.act_as('admin');
select throws_ok($$select stripe.ingest_events('[]')$$, '42501', null,
  'an ops admin cannot call the webhook''s batch entry point');
reset role;
select pg_temp.act_as('anon');
select throws_ok($$select stripe.ingest_events('[]')$$, '42501', null,
  'anon cannot call it');
reset role;
select pg_temp.act_as('nonmember');
select throws_ok($$select stripe.ingest_events('[]')$$, '42501', null,
  'a signed-in user cannot call it');
reset role;

select * from finish();
rollback;
