-- Supabase platform shim, part 1: the roles every Supabase database has.
--
-- PostgREST, the Edge Functions and the dashboard connect as these roles on a hosted
-- project: `authenticator` logs in and switches to `anon`, `authenticated` or
-- `service_role` per request; `service_role` bypasses RLS; `supabase_admin` is the platform's
-- superuser. The shim is applied before migrations and never belongs to supabase/migrations.
-- Every statement re-runs safely.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin login superuser createdb createrole replication bypassrls
      password 'postgres';
  end if;
  -- Owner of the auth schema on a hosted project (GoTrue connects as it).
  if not exists (select from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin login noinherit createrole password 'postgres';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

-- PostgREST gives every API role a statement timeout; Supabase sets these by default.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
