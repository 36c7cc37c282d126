-- Intent: `public.tier_prices`, the recurring prices of each tier.
--
-- `lookup_key` (e.g. pro_monthly) is the natural key across environments and the Stripe
-- price lookup key. `stripe_price_id` belongs to one Stripe account: it is environment-specific,
-- mapped by the promotion engine and never copied. Amounts are in minor units (cents).
-- Anyone reads active prices of active tiers; ops members read all; operators and admins write.

create table if not exists public.tier_prices (
  id uuid primary key default gen_random_uuid(),
  tier_id uuid not null references public.membership_tiers (id) on delete cascade,
  lookup_key text not null unique
    check (lookup_key ~ '^[a-z0-9][a-z0-9_]*$' and length(lookup_key) <= 200),
  currency char(3) not null check (currency ~ '^[a-z]{3}$'),
  unit_amount bigint not null check (unit_amount >= 0),
  billing_interval text not null check (billing_interval in ('day', 'week', 'month', 'year')),
  interval_count integer not null default 1 check (interval_count > 0),
  active boolean not null default true,
  stripe_price_id text unique check (stripe_price_id ~ '^price_'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.tier_prices is 'Recurring prices of each tier; lookup_key is the natural key, stripe_price_id is environment-specific.';
comment on column public.tier_prices.unit_amount is 'Amount in the currency''s minor unit (e.g. cents).';
comment on column public.tier_prices.stripe_price_id is 'Stripe price id in this environment''s account; never promoted.';

create index if not exists tier_prices_tier_id_idx on public.tier_prices (tier_id);

alter table public.tier_prices enable row level security;

revoke insert, update, delete, truncate, references, trigger on table public.tier_prices from anon;
revoke truncate, references, trigger on table public.tier_prices from authenticated;

create or replace trigger set_updated_at
  before update on public.tier_prices
  for each row execute function private.set_updated_at();

drop policy if exists "Anyone can read active prices of active tiers" on public.tier_prices;
create policy "Anyone can read active prices of active tiers"
  on public.tier_prices for select to anon
  using (
    active
    and exists (select 1 from public.membership_tiers as t where t.id = tier_id and t.active)
  );

drop policy if exists "Users can read active prices and ops members can read all"
  on public.tier_prices;
create policy "Users can read active prices and ops members can read all"
  on public.tier_prices for select to authenticated
  using (
    (select ops.is_member())
    or (
      active
      and exists (select 1 from public.membership_tiers as t where t.id = tier_id and t.active)
    )
  );

drop policy if exists "Operators and admins can create prices" on public.tier_prices;
create policy "Operators and admins can create prices"
  on public.tier_prices for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can change prices" on public.tier_prices;
create policy "Operators and admins can change prices"
  on public.tier_prices for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can delete prices" on public.tier_prices;
create policy "Operators and admins can delete prices"
  on public.tier_prices for delete to authenticated
  using ((select ops.has_role('operator', 'admin')));
