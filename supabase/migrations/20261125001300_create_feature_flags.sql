-- Intent: `public.feature_flags`, the application's feature flags.
--
-- `key` is the natural key across environments. Signed-in users read every flag, because the
-- app evaluates flags for the current user; anon reads none (flags reveal unreleased work).
-- Hence targeting_rules must never hold personal data (use segments or hashed ids).
-- Operators and admins write.

create table if not exists public.feature_flags (
  key text primary key
    check (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' and length(key) <= 128),
  description text,
  enabled boolean not null default false,
  rollout_percent integer not null default 100 check (rollout_percent between 0 and 100),
  targeting_rules jsonb not null default '[]' check (jsonb_typeof(targeting_rules) = 'array'),
  updated_at timestamptz not null default now(),
  updated_by uuid default auth.uid()
);

comment on table public.feature_flags is 'Feature flags; readable by signed-in users, written by operators and admins.';
comment on column public.feature_flags.targeting_rules is
  'JSON array of rules evaluated by the app; readable by every signed-in user, so no personal data.';

alter table public.feature_flags enable row level security;

revoke all on table public.feature_flags from anon;
revoke truncate, references, trigger on table public.feature_flags from authenticated;

create or replace trigger set_updated_at
  before update on public.feature_flags
  for each row execute function private.set_updated_at();

drop policy if exists "Signed-in users can read feature flags" on public.feature_flags;
create policy "Signed-in users can read feature flags"
  on public.feature_flags for select to authenticated
  using ((select auth.uid()) is not null);

drop policy if exists "Operators and admins can create feature flags" on public.feature_flags;
create policy "Operators and admins can create feature flags"
  on public.feature_flags for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can change feature flags" on public.feature_flags;
create policy "Operators and admins can change feature flags"
  on public.feature_flags for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can delete feature flags" on public.feature_flags;
create policy "Operators and admins can delete feature flags"
  on public.feature_flags for delete to authenticated
  using ((select ops.has_role('operator', 'admin')));
