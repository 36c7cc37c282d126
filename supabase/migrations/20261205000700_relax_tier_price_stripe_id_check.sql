-- Intent: a tier price may point at any price Stripe may have, including one created through
-- the Plans API with an id chosen by the account (`gold-monthly`, `gold.v2`).
--
-- 20261205000100 relaxed the mirror's own id checks to what Stripe's definition allows (a string
-- of at most 5000 characters, no pattern); `tier_prices.stripe_price_id` still demanded `price_`,
-- so linking a tier to such a price failed although the mirror held it. The new check is the
-- mirror's: non-empty, at most 5000 characters.
-- Revert: supabase/rollbacks/20261205000700_relax_tier_price_stripe_id_check.sql.

alter table public.tier_prices drop constraint tier_prices_stripe_price_id_check;
alter table public.tier_prices
  add constraint tier_prices_stripe_price_id_check
  check (length(stripe_price_id) between 1 and 5000);
