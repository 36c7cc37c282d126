-- Intent: prices are immutable, as in Stripe. A changed amount, currency or interval becomes
-- a new price that takes over the lookup key (Stripe's `transfer_lookup_key`); the old price
-- is archived: inactive and without a lookup key, kept for the memberships and Stripe ids that
-- still point at it. So `lookup_key` stays unique but may be null on archived prices.

alter table public.tier_prices alter column lookup_key drop not null;

alter table public.tier_prices drop constraint if exists tier_prices_archived_are_inactive;
alter table public.tier_prices add constraint tier_prices_archived_are_inactive
  check (lookup_key is not null or not active);

comment on column public.tier_prices.lookup_key is
  'Natural key across environments; null only on archived prices (replaced by a new price).';
