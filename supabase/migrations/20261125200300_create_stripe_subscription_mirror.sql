-- Intent: `stripe.subscriptions` and `stripe.subscription_items`, the mirror of Stripe
-- subscriptions that memberships follow.
--
-- `membership_error` says why the subscription could not be turned into a membership
-- (customer not linked to a user, price of no tier, another live membership): such a
-- subscription is never dropped, it waits here for reconciliation. Items removed from a
-- subscription are kept with `deleted`. A user reads their own; ops members read all.

create table if not exists stripe.subscriptions (
  id text primary key check (id ~ '^sub_'),
  customer_id text not null,
  status text not null,
  cancel_at_period_end boolean not null default false,
  current_period_end timestamptz,
  membership_error text,
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  event_created timestamptz,
  event_id text,
  synced_at timestamptz not null default now()
);

comment on table stripe.subscriptions is
  'Mirror of Stripe subscriptions; membership_error is set while no membership can be derived.';

create index if not exists subscriptions_customer_id_idx on stripe.subscriptions (customer_id);
create index if not exists subscriptions_membership_error_idx on stripe.subscriptions (id)
  where membership_error is not null;

create table if not exists stripe.subscription_items (
  id text primary key check (id ~ '^si_'),
  subscription_id text not null references stripe.subscriptions (id) on delete cascade,
  position integer not null default 0,
  price_id text,
  quantity integer,
  current_period_end timestamptz,
  deleted boolean not null default false,
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  synced_at timestamptz not null default now()
);

comment on table stripe.subscription_items is 'Items of mirrored subscriptions (price, quantity, period).';

create index if not exists subscription_items_subscription_id_idx
  on stripe.subscription_items (subscription_id);

alter table stripe.subscriptions enable row level security;
alter table stripe.subscription_items enable row level security;

revoke all on table stripe.subscriptions, stripe.subscription_items from public, anon, authenticated;
grant select on table stripe.subscriptions, stripe.subscription_items to authenticated;
grant select, insert, update, delete on table stripe.subscriptions, stripe.subscription_items
  to service_role;
grant select, insert, update on table stripe.subscriptions, stripe.subscription_items
  to stagecoach_stripe_sync;

drop policy if exists "Users can read their own subscriptions and ops members can read all"
  on stripe.subscriptions;
create policy "Users can read their own subscriptions and ops members can read all"
  on stripe.subscriptions for select to authenticated
  using (
    (select ops.is_member())
    or customer_id in (
      select l.customer_id from stripe.customer_links as l where l.user_id = (select auth.uid())
    )
  );

drop policy if exists "The Stripe sync reads and writes subscriptions" on stripe.subscriptions;
create policy "The Stripe sync reads and writes subscriptions"
  on stripe.subscriptions for all to stagecoach_stripe_sync
  using (true) with check (true);

drop policy if exists "Users can read their own subscription items and ops members can read all"
  on stripe.subscription_items;
create policy "Users can read their own subscription items and ops members can read all"
  on stripe.subscription_items for select to authenticated
  using (
    (select ops.is_member())
    or subscription_id in (
      select s.id
      from stripe.subscriptions as s
      join stripe.customer_links as l on l.customer_id = s.customer_id
      where l.user_id = (select auth.uid())
    )
  );

drop policy if exists "The Stripe sync reads and writes subscription items"
  on stripe.subscription_items;
create policy "The Stripe sync reads and writes subscription items"
  on stripe.subscription_items for all to stagecoach_stripe_sync
  using (true) with check (true);
