-- Intent: `public.app_config`, the application's configuration entries (key → JSON value).
--
-- `key` is the natural key across environments. `env_specific` entries (e.g. site_url) are
-- never promoted. Secret entries (`is_secret`) keep no plaintext: `value` is null and the
-- value lives only as `secret_ciphertext` (encrypted by the engine) plus a fingerprint that
-- plans may show. The ciphertext is readable by no API role, service_role included: table
-- SELECT is revoked and column SELECT granted on every other column, so clients must name
-- their columns (`select *` is refused).
-- Ops members read; operators and admins write; anon and plain users get nothing.

create table if not exists public.app_config (
  key text primary key
    check (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' and length(key) <= 128),
  value jsonb,
  description text,
  schema_version integer not null default 1 check (schema_version > 0),
  is_secret boolean not null default false,
  env_specific boolean not null default false,
  secret_ciphertext bytea,
  secret_fingerprint text,
  updated_at timestamptz not null default now(),
  updated_by uuid default auth.uid(),
  constraint app_config_secret_has_no_plaintext check (
    case
      when is_secret then value is null and secret_ciphertext is not null and secret_fingerprint is not null
      else value is not null and secret_ciphertext is null and secret_fingerprint is null
    end
  )
);

comment on table public.app_config is
  'Application configuration; secret entries hold only ciphertext (unreadable through the API) and a fingerprint.';
comment on column public.app_config.secret_ciphertext is
  'Encrypted secret value. No API role may SELECT this column.';
comment on column public.app_config.secret_fingerprint is
  'Fingerprint of the secret value, safe to show in plans and bundles.';

alter table public.app_config enable row level security;

revoke all on table public.app_config from anon;
revoke select, truncate, references, trigger on table public.app_config from authenticated, service_role;
grant select (key, value, description, schema_version, is_secret, env_specific, secret_fingerprint, updated_at, updated_by)
  on table public.app_config to authenticated, service_role;

create or replace trigger set_updated_at
  before update on public.app_config
  for each row execute function private.set_updated_at();

drop policy if exists "Ops members can read config" on public.app_config;
create policy "Ops members can read config"
  on public.app_config for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Operators and admins can create config entries" on public.app_config;
create policy "Operators and admins can create config entries"
  on public.app_config for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can change config entries" on public.app_config;
create policy "Operators and admins can change config entries"
  on public.app_config for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators and admins can delete config entries" on public.app_config;
create policy "Operators and admins can delete config entries"
  on public.app_config for delete to authenticated
  using ((select ops.has_role('operator', 'admin')));
