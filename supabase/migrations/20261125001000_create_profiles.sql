-- Intent: `public.profiles`, one per auth user, created by a trigger when the user signs up.
--
-- Holds personal data (names, phone, date of birth, address): the anonymized copy masks it.
-- A user reads and updates only their own profile and cannot change its id; there is no
-- user INSERT (the trigger creates it) or DELETE (it goes with the auth user).

create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  display_name text check (length(display_name) <= 100),
  full_name text check (length(full_name) <= 200),
  phone text check (length(phone) <= 32),
  date_of_birth date check (date_of_birth > date '1900-01-01'),
  address jsonb check (jsonb_typeof(address) = 'object'),
  marketing_opt_in boolean not null default false,
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.profiles is 'Profile of each auth user (personal data; anonymized when copied).';

alter table public.profiles enable row level security;

revoke all on table public.profiles from anon;
revoke insert, update, delete, truncate, references, trigger on table public.profiles from authenticated;
-- Column-level UPDATE: users may edit their details, never id or timestamps.
grant update (display_name, full_name, phone, date_of_birth, address, marketing_opt_in, metadata)
  on table public.profiles to authenticated;

create or replace trigger set_updated_at
  before update on public.profiles
  for each row execute function private.set_updated_at();

-- Creates the profile of a new auth user. Runs as the owner because GoTrue's role inserts
-- the user and cannot write public.profiles.
create or replace function private.create_profile_for_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, display_name, full_name)
  values (
    new.id,
    coalesce(
      nullif(new.raw_user_meta_data ->> 'display_name', ''),
      nullif(split_part(coalesce(new.email, ''), '@', 1), '')
    ),
    nullif(new.raw_user_meta_data ->> 'full_name', '')
  )
  on conflict (id) do nothing;
  return new;
end;
$$;

revoke all on function private.create_profile_for_new_user() from public;

create or replace trigger on_auth_user_created_create_profile
  after insert on auth.users
  for each row execute function private.create_profile_for_new_user();

drop policy if exists "Users can read their own profile" on public.profiles;
create policy "Users can read their own profile"
  on public.profiles for select to authenticated
  using (id = (select auth.uid()));

drop policy if exists "Users can update their own profile" on public.profiles;
create policy "Users can update their own profile"
  on public.profiles for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));
