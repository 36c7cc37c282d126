-- Intent: `stripe.customers` (the mirror of Stripe customers) and `stripe.customer_links`
-- (which Supabase user each Stripe customer is), kept apart so a link recorded from
-- `checkout.session.completed` never waits for, or races with, the customer's own events.
--
-- A user reads their own customer row and link; ops members read all. Written only by
-- stagecoach_stripe_sync (and service_role).

create table if not exists stripe.customers (
  id text primary key check (id ~ '^cus_'),
  email text,
  deleted boolean not null default false,
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  event_created timestamptz,
  event_id text,
  synced_at timestamptz not null default now()
);

comment on table stripe.customers is 'Mirror of Stripe customers (personal data: email, name).';

create table if not exists stripe.customer_links (
  customer_id text primary key check (customer_id ~ '^cus_'),
  user_id uuid not null references auth.users (id) on delete cascade,
  -- Where the link came from, e.g. checkout.session.completed:cs_test_…
  source text not null,
  linked_at timestamptz not null default now()
);

comment on table stripe.customer_links is
  'The Supabase user behind each Stripe customer (from checkout sessions: client_reference_id or metadata).';

create index if not exists customer_links_user_id_idx on stripe.customer_links (user_id);

alter table stripe.customers enable row level security;
alter table stripe.customer_links enable row level security;

revoke all on table stripe.customers, stripe.customer_links from public, anon, authenticated;
grant select on table stripe.customers, stripe.customer_links to authenticated;
grant select, insert, update, delete on table stripe.customers, stripe.customer_links to service_role;
grant select, insert, update on table stripe.customers, stripe.customer_links
  to stagecoach_stripe_sync;

drop policy if exists "Users can read their own link and ops members can read all"
  on stripe.customer_links;
create policy "Users can read their own link and ops members can read all"
  on stripe.customer_links for select to authenticated
  using (user_id = (select auth.uid()) or (select ops.is_member()));

drop policy if exists "The Stripe sync reads and writes customer links" on stripe.customer_links;
create policy "The Stripe sync reads and writes customer links"
  on stripe.customer_links for all to stagecoach_stripe_sync
  using (true) with check (true);

drop policy if exists "Users can read their own customer and ops members can read all"
  on stripe.customers;
create policy "Users can read their own customer and ops members can read all"
  on stripe.customers for select to authenticated
  using (
    (select ops.is_member())
    or id in (select l.customer_id from stripe.customer_links as l where l.user_id = (select auth.uid()))
  );

drop policy if exists "The Stripe sync reads and writes customers" on stripe.customers;
create policy "The Stripe sync reads and writes customers"
  on stripe.customers for all to stagecoach_stripe_sync
  using (true) with check (true);
