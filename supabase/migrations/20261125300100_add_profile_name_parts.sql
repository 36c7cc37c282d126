-- Intent: `public.profiles.given_name` and `family_name`, so the app can greet and sort people
-- properly instead of guessing from `full_name`. Existing rows are filled by the ETL transform
-- `profiles_split_full_name` (supabase/etl/), run as a checkpointed job:
--   stagecoach etl run profiles_split_full_name --env <env>
-- Users may edit both, like the rest of their profile (column-level UPDATE grant).

alter table public.profiles
  add column if not exists given_name text check (length(given_name) <= 100),
  add column if not exists family_name text check (length(family_name) <= 100);

comment on column public.profiles.given_name is
  'Given name(s); filled from full_name by the ETL transform profiles_split_full_name.';
comment on column public.profiles.family_name is
  'Family name, with particles such as "van der"; filled by profiles_split_full_name.';

grant update (given_name, family_name) on table public.profiles to authenticated;
