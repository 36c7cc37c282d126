-- Intent: `public.tier_features`, what each tier includes (feature_key → JSON value).
--
-- Natural key across environments: (tier slug, feature_key).
-- Anyone reads the features of active tiers; ops members read all; operators and admins write.

create table if not exists public.tier_features (
  id uuid primary key default gen_random_uuid(),
  tier_id uuid not null references public.membership_tiers (id) on delete cascade,
  feature_key text not null check (feature_key ~ '^[a-z][a-z0-9_.]*$' and length(feature_key) <= 128),
  value jsonb not null default 'true',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tier_features_tier_id_feature_key_key unique (tier_id, feature_key)
);

comment on table public.tier_features is 'Features of each tier; (tier slug, feature_key) is the natural key.';

alter table public.tier_features enable row level security;

revoke insert, update, delete, truncate, references, trigger on table public.tier_features from anon;
revoke truncate, references, trigger on table public.tier_features from authenticated;

create or replace trigger set_updated_at
  before update on public.tier_features
  for each row execute function private.set_updated_at();

drop policy if exists "Anyone can read features of active tiers" on public.tier_features;
create policy "Anyone can read features of active tiers"
  on public.tier_features for select to anon
  using (
    exists (
      select 1 from public.membership_tiers as t where t.id = tier_id and t.active
    )
  );

drop policy if exists "Users can read features of active tiers, ops members all"
  on public.tier_features;
create policy "Users can read features of active tiers, ops members all"
  on public.tier_features for select to authenticated
  using (
    (select ops.is_member())
    or exists (
      select 1 from public.membership_tiers as t where t.id = tier_id and t.active
    )
  );

drop policy if exists "Operators and admins can create tier features" on public.tier_features;
create policy "Operators and admins can create tier features"
  on public.tier_features for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can change tier features" on public.tier_features;
create policy "Operators and admins can change tier features"
  on public.tier_features for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can delete tier features" on public.tier_features;
create policy "Operators and admins can delete tier features"
  on public.tier_features for delete to authenticated
  using ((select ops.has_role('operator', 'admin')));
