-- Supabase platform shim, part 2: the `extensions` schema.
--
-- Supabase installs extensions into `extensions` (not `public`) and puts that schema on the
-- search_path of its roles, so `crypt()`, `gen_salt()` and `digest()` resolve unqualified in
-- the SQL editor while never appearing as API endpoints.

create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

alter role postgres set search_path = "$user", public, extensions;
alter role anon set search_path = "$user", public, extensions;
alter role authenticated set search_path = "$user", public, extensions;
alter role service_role set search_path = "$user", public, extensions;
alter database postgres set search_path = "$user", public, extensions;
