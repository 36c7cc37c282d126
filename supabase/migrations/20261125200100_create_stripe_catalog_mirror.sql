-- Intent: the mirror of Stripe's catalog, `stripe.products` and `stripe.prices`.
--
-- Each row keeps the full Stripe object (`data`) plus the columns we query, and the event
-- that last wrote it (`event_created`, `event_id`): an older event never overwrites newer
-- state (see stripe.ingest_event). Deletions are soft (`deleted`). Written only by
-- stagecoach_stripe_sync (and service_role); read by ops members.

create table if not exists stripe.products (
  id text primary key check (id ~ '^prod_' or id ~ '^[A-Za-z0-9_-]+$'),
  name text,
  active boolean not null default true,
  tier_slug text,
  deleted boolean not null default false,
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  event_created timestamptz,
  event_id text,
  synced_at timestamptz not null default now()
);

comment on table stripe.products is 'Mirror of Stripe products; tier_slug comes from metadata.tier_slug.';
comment on column stripe.products.event_created is
  'Stripe time of the event (or fetch) that last wrote the row; older events are ignored.';

create index if not exists products_tier_slug_idx on stripe.products (tier_slug);

create table if not exists stripe.prices (
  id text primary key check (id ~ '^price_' or id ~ '^plan_'),
  product_id text,
  active boolean not null default true,
  currency text,
  unit_amount bigint,
  recurring_interval text,
  recurring_interval_count integer,
  lookup_key text,
  deleted boolean not null default false,
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  event_created timestamptz,
  event_id text,
  synced_at timestamptz not null default now()
);

comment on table stripe.prices is 'Mirror of Stripe prices; lookup_key matches public.tier_prices.lookup_key.';

create index if not exists prices_product_id_idx on stripe.prices (product_id);
create index if not exists prices_lookup_key_idx on stripe.prices (lookup_key);

alter table stripe.products enable row level security;
alter table stripe.prices enable row level security;

revoke all on table stripe.products, stripe.prices from public, anon, authenticated;
grant select on table stripe.products, stripe.prices to authenticated;
grant select, insert, update, delete on table stripe.products, stripe.prices to service_role;
grant select, insert, update on table stripe.products, stripe.prices to stagecoach_stripe_sync;

drop policy if exists "Ops members can read mirrored products" on stripe.products;
create policy "Ops members can read mirrored products"
  on stripe.products for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "The Stripe sync reads and writes products" on stripe.products;
create policy "The Stripe sync reads and writes products"
  on stripe.products for all to stagecoach_stripe_sync
  using (true) with check (true);

drop policy if exists "Ops members can read mirrored prices" on stripe.prices;
create policy "Ops members can read mirrored prices"
  on stripe.prices for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "The Stripe sync reads and writes prices" on stripe.prices;
create policy "The Stripe sync reads and writes prices"
  on stripe.prices for all to stagecoach_stripe_sync
  using (true) with check (true);
