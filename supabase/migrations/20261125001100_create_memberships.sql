-- Intent: `public.memberships`, each user's subscription to a tier, mirrored from Stripe.
--
-- Written only by the service role (the stripe-webhook function); a user reads their own.
-- At most one live membership per user: canceled and incomplete_expired ones are history.
-- A tier with memberships cannot be deleted (restrict): deactivate it instead.

do $$
begin
  create type public.membership_status as enum (
    'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'
  );
exception
  when duplicate_object then null;
end;
$$;

comment on type public.membership_status is 'Stripe subscription statuses.';

create table if not exists public.memberships (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  tier_id uuid not null references public.membership_tiers (id) on delete restrict,
  status public.membership_status not null default 'incomplete',
  stripe_customer_id text check (stripe_customer_id ~ '^cus_'),
  stripe_subscription_id text unique check (stripe_subscription_id ~ '^sub_'),
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.memberships is 'Subscriptions of users to tiers, mirrored from Stripe by the stripe-webhook function.';

create index if not exists memberships_user_id_idx on public.memberships (user_id);
create index if not exists memberships_tier_id_idx on public.memberships (tier_id);
create unique index if not exists memberships_one_live_per_user
  on public.memberships (user_id)
  where status not in ('canceled', 'incomplete_expired');

alter table public.memberships enable row level security;

revoke all on table public.memberships from anon;
revoke insert, update, delete, truncate, references, trigger on table public.memberships from authenticated;

create or replace trigger set_updated_at
  before update on public.memberships
  for each row execute function private.set_updated_at();

drop policy if exists "Users can read their own memberships" on public.memberships;
create policy "Users can read their own memberships"
  on public.memberships for select to authenticated
  using (user_id = (select auth.uid()));
