-- Reverts 20261205000700_relax_tier_price_stripe_id_check: puts back the `price_` check of
-- 20261125000900_create_tier_prices.
--
-- Refuses (the whole revert fails and changes nothing) while a tier price points at a price
-- whose id the old check rejects (e.g. a plan's `gold-monthly`): unlinking it would silently
-- break that tier's checkout. Decide first
-- (`select lookup_key, stripe_price_id from public.tier_prices where stripe_price_id !~ '^price_'`).

alter table public.tier_prices drop constraint tier_prices_stripe_price_id_check;
alter table public.tier_prices
  add constraint tier_prices_stripe_price_id_check check (stripe_price_id ~ '^price_');
