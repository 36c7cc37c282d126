-- Intent: `public.membership_tiers`, the membership product's tiers (free, pro, team, ...).
--
-- `slug` is the natural key that crosses environments; `id` never does.
-- Anyone (anon, authenticated) reads active tiers, for the pricing page. Ops members read
-- every tier (plans compare inactive ones too). Only operators and admins write.

create table if not exists public.membership_tiers (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique
    check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 64),
  name text not null check (length(name) between 1 and 200),
  description text,
  sort_order integer not null default 0,
  active boolean not null default true,
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.membership_tiers is 'Membership tiers; slug is the natural key across environments.';

alter table public.membership_tiers enable row level security;

-- Supabase grants ALL to the API roles by default; anon only ever reads, and nobody needs
-- TRUNCATE, REFERENCES or TRIGGER (TRUNCATE is not subject to RLS).
revoke insert, update, delete, truncate, references, trigger on table public.membership_tiers from anon;
revoke truncate, references, trigger on table public.membership_tiers from authenticated;

create or replace trigger set_updated_at
  before update on public.membership_tiers
  for each row execute function private.set_updated_at();

drop policy if exists "Anyone can read active tiers" on public.membership_tiers;
create policy "Anyone can read active tiers"
  on public.membership_tiers for select to anon
  using (active);

drop policy if exists "Users can read active tiers and ops members can read all"
  on public.membership_tiers;
create policy "Users can read active tiers and ops members can read all"
  on public.membership_tiers for select to authenticated
  using (active or (select ops.is_member()));

drop policy if exists "Operators and admins can create tiers" on public.membership_tiers;
create policy "Operators and admins can create tiers"
  on public.membership_tiers for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can change tiers" on public.membership_tiers;
create policy "Operators and admins can change tiers"
  on public.membership_tiers for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can delete tiers" on public.membership_tiers;
create policy "Operators and admins can delete tiers"
  on public.membership_tiers for delete to authenticated
  using ((select ops.has_role('operator', 'admin')));
