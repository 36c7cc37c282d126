-- Supabase platform shim, part 4: the default privileges on `public`.
--
-- On Supabase every table, function and sequence that `postgres` creates in `public` is
-- granted to the three API roles. That is why a table without RLS leaks through the Data
-- API — and it must leak here too, or our RLS tests would prove nothing.

grant usage on schema public to postgres, anon, authenticated, service_role;

-- Only default privileges: `grant … on all tables` here would, on a re-run, undo the revokes
-- our migrations make (e.g. the secret ciphertext column of app_config). On a new project
-- `public` is empty when this runs, so defaults are all Supabase's setup amounts to.

alter default privileges for role postgres in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;

alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
