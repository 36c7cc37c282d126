-- Intent: let the Stripe sync role (stagecoach_stripe_sync) set memberships: read tiers and
-- tier prices, read and write public.memberships. Nothing else in public.

grant usage on schema public to stagecoach_stripe_sync;
grant select on table public.membership_tiers, public.tier_prices to stagecoach_stripe_sync;
grant select, insert, update on table public.memberships to stagecoach_stripe_sync;

drop policy if exists "The Stripe sync reads every tier" on public.membership_tiers;
create policy "The Stripe sync reads every tier"
  on public.membership_tiers for select to stagecoach_stripe_sync
  using (true);

drop policy if exists "The Stripe sync reads every tier price" on public.tier_prices;
create policy "The Stripe sync reads every tier price"
  on public.tier_prices for select to stagecoach_stripe_sync
  using (true);

drop policy if exists "The Stripe sync reads every membership" on public.memberships;
create policy "The Stripe sync reads every membership"
  on public.memberships for select to stagecoach_stripe_sync
  using (true);

drop policy if exists "The Stripe sync creates memberships" on public.memberships;
create policy "The Stripe sync creates memberships"
  on public.memberships for insert to stagecoach_stripe_sync
  with check (true);

drop policy if exists "The Stripe sync changes memberships" on public.memberships;
create policy "The Stripe sync changes memberships"
  on public.memberships for update to stagecoach_stripe_sync
  using (true) with check (true);
