-- Intent: a `private` schema for helper functions that the Data API must never expose, and
-- the one shared trigger function that keeps `updated_at` current on every table that has it.
--
-- `private` is not in config.toml's `api.schemas`, and no API role gets usage on it: trigger
-- functions run without an EXECUTE or USAGE check on the inserting role.

create schema if not exists private;

comment on schema private is
  'Internal helpers (trigger functions). Never exposed through the Data API.';

revoke all on schema private from public;

-- Stamps `updated_at` on every UPDATE. Shared by all tables; attach it with
--   create or replace trigger set_updated_at before update on <table>
--     for each row execute function private.set_updated_at();
create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

comment on function private.set_updated_at() is
  'BEFORE UPDATE trigger: sets updated_at to now(). The one shared updated_at trigger.';

revoke all on function private.set_updated_at() from public;
