-- The catalog mirror takes the ids Stripe allows (its definition: a string of at most 5000
-- characters, no pattern): account-chosen plan/price and product ids such as `gold-monthly`
-- and `gold.v2`, and refuses only an empty or over-long id. The ledger counts U+0000
-- replacements (`nul_replaced`, positive or null). A tier price may link such a price.
begin;
\ir _setup.psql
select plan(9);

select lives_ok(
  $$insert into stripe.products (id, name, data) values ('gold.v2', 'Gold', '{"id":"gold.v2"}')$$,
  'a product id chosen by the account (with a dot) is mirrored'
);
select lives_ok(
  $$insert into stripe.prices (id, product_id, data)
    values ('gold-monthly', 'gold.v2', '{"id":"gold-monthly"}')$$,
  'a plan id chosen by the account is mirrored as a price'
);
select lives_ok(
  $$insert into stripe.prices (id, data) values ('price_1Abc', '{}'), ('plan_Old', '{}')$$,
  'generated price and plan ids still are'
);
select throws_ok(
  $$insert into stripe.prices (id, data) values ('', '{}')$$,
  '23514', null, 'an empty price id is refused'
);
select throws_ok(
  $$insert into stripe.products (id, data) values (repeat('x', 5001), '{}')$$,
  '23514', null, 'a product id over 5000 characters is refused'
);
select lives_ok(
  $$insert into stripe.events (id, type, created, status, nul_replaced)
    values ('evt_nul24', 'product.updated', now(), 'processed', 2)$$,
  'the ledger records how many strings had U+0000 replaced'
);
select throws_ok(
  $$insert into stripe.events (id, type, created, nul_replaced)
    values ('evt_nul24b', 'product.updated', now(), 0)$$,
  '23514', null, 'a count of zero is written as null'
);

insert into public.membership_tiers (slug, name) values ('zz-ids', 'Zz ids');
select lives_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
    select id, 'zz_ids_monthly', 'usd', 900, 'month', 'gold-monthly' from public.membership_tiers where slug = 'zz-ids'$$,
  'a tier price links a price whose id the account chose'
);
select throws_ok(
  $$insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
    select id, 'zz_ids_yearly', 'usd', 9000, 'year', '' from public.membership_tiers where slug = 'zz-ids'$$,
  '23514', null, 'an empty stripe_price_id is refused'
);

select * from finish();
rollback;
