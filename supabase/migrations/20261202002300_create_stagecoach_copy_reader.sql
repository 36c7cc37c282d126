-- Intent: contain a user copy's `--where`. The predicate is SQL evaluated on the SOURCE (often
-- production), and it used to run as `postgres`, outside a read-only transaction, without a
-- statement timeout: it could advance a sequence, sleep for ever, and test
-- `vault.decrypted_secrets` as a yes/no oracle.
--
-- * `stagecoach_copy_reader` (NOLOGIN) is the role a copy reads its source as (the copy sets
--   it with `set local role` in a read-only transaction with a statement timeout,
--   `_shared/users/source_reader.ts`). It may SELECT the copied tables (auth.users,
--   auth.identities, public.profiles, public.memberships) and public.membership_tiers (the
--   masking re-points tiers by slug), and EXECUTE extensions.hmac(text, text, text) (the
--   masking). Nothing else: no Vault, no `ops`, no sequence. (pgcrypto's functions are
--   executable by PUBLIC, as every extension function is by default; they compute, they
--   read nothing.) RLS is enabled on those tables, so each gets a read-everything policy for
--   this role alone (on a hosted project the auth tables have RLS too).
-- * `users_copy.selected_user_ids(predicate)` is the only place the predicate runs: a security
--   definer function OWNED by the reader, so it runs as the reader in a frame where Postgres
--   refuses `set role` (a plain `set local role` could be undone from inside the predicate
--   with `set_config('role', 'postgres', true)`: the session user is still postgres). The
--   key is blanked inside (the predicate cannot read it), and a predicate that changes any
--   setting (statement_timeout, the key, search_path, …) fails the statement, so the change
--   rolls back with it. Session advisory locks a predicate took are released.
-- * `users_copy.anon_key()` is how the masking SQL reads the key: it refuses an empty one,
--   so a session whose key was blanked (or never set) fails instead of masking with ''.
--
-- `postgres` is granted the role so it can `set local role` to it (hosted Supabase's postgres
-- is not a superuser but has CREATEROLE).

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'stagecoach_copy_reader') then
    create role stagecoach_copy_reader nologin noinherit;
  end if;
end
$$;

comment on role stagecoach_copy_reader is
  'Reads the source of a user copy: the copied tables, tiers and hmac; nothing else. Cannot log in.';

grant stagecoach_copy_reader to postgres;

grant usage on schema auth, public, extensions to stagecoach_copy_reader;
grant select on table auth.users, auth.identities, public.profiles, public.memberships,
  public.membership_tiers to stagecoach_copy_reader;
grant execute on function extensions.hmac(text, text, text) to stagecoach_copy_reader;

drop policy if exists "The copy reader reads every user" on auth.users;
create policy "The copy reader reads every user"
  on auth.users for select to stagecoach_copy_reader
  using (true);

drop policy if exists "The copy reader reads every identity" on auth.identities;
create policy "The copy reader reads every identity"
  on auth.identities for select to stagecoach_copy_reader
  using (true);

drop policy if exists "The copy reader reads every profile" on public.profiles;
create policy "The copy reader reads every profile"
  on public.profiles for select to stagecoach_copy_reader
  using (true);

drop policy if exists "The copy reader reads every membership" on public.memberships;
create policy "The copy reader reads every membership"
  on public.memberships for select to stagecoach_copy_reader
  using (true);

drop policy if exists "The copy reader reads every tier" on public.membership_tiers;
create policy "The copy reader reads every tier"
  on public.membership_tiers for select to stagecoach_copy_reader
  using (true);

create schema if not exists users_copy;

comment on schema users_copy is
  'Functions a user copy runs on its source as stagecoach_copy_reader. Never exposed through the Data API.';

revoke all on schema users_copy from public;
grant usage on schema users_copy to stagecoach_copy_reader;

create or replace function users_copy.selected_user_ids(predicate text)
returns setof uuid
language plpgsql
volatile
security definer
set search_path = ''
set stagecoach.anon_key = ''
as $$
declare
  before jsonb;
  changed text;
begin
  select pg_catalog.jsonb_object_agg(s.name, s.setting) into before from pg_catalog.pg_settings as s;
  begin
    return query execute 'select u.id from auth.users as u where (' || predicate || ')';
  exception
    when others then
      perform pg_catalog.pg_advisory_unlock_all();
      raise;
  end;
  perform pg_catalog.pg_advisory_unlock_all();
  select pg_catalog.string_agg(coalesce(a.name, b.key), ', ' order by coalesce(a.name, b.key))
    into changed
    from pg_catalog.pg_settings as a
    full join pg_catalog.jsonb_each_text(before) as b on b.key = a.name
    where a.setting is distinct from b.value;
  if pg_catalog.current_setting('stagecoach.anon_key', true) is distinct from '' then
    changed := pg_catalog.concat_ws(', ', changed, 'stagecoach.anon_key');
  end if;
  if changed is not null then
    raise exception 'Cannot use --where: it changed settings of the session (%)', changed
      using errcode = '42501';
  end if;
end;
$$;

comment on function users_copy.selected_user_ids(text) is
  'Ids of auth.users matching a --where predicate (alias u), evaluated as stagecoach_copy_reader; refuses a predicate that changes settings.';

-- Owned by the reader, so it runs as the reader. ALTER ... OWNER needs the new owner to hold
-- CREATE on the schema; it holds it only for this statement.
grant create on schema users_copy to stagecoach_copy_reader;
alter function users_copy.selected_user_ids(text) owner to stagecoach_copy_reader;
revoke create on schema users_copy from stagecoach_copy_reader;
revoke all on function users_copy.selected_user_ids(text) from public;
grant execute on function users_copy.selected_user_ids(text) to stagecoach_copy_reader;

create or replace function users_copy.anon_key()
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  k text := pg_catalog.current_setting('stagecoach.anon_key', true);
begin
  if k is null or k = '' then
    raise exception 'Cannot mask: the session has no anonymization key (stagecoach.anon_key is empty)'
      using errcode = '22023';
  end if;
  return k;
end;
$$;

comment on function users_copy.anon_key() is
  'The derived anonymization key of the session (stagecoach.anon_key); refuses an empty one.';

revoke all on function users_copy.anon_key() from public;
grant execute on function users_copy.anon_key() to stagecoach_copy_reader;
