-- Supabase platform shim, part 6: a stand-in for Supabase Vault.
--
-- Supabase's documented way to give pg_cron jobs a project URL and a key without writing
-- them into migrations is Vault: `vault.create_secret()` stores a secret encrypted at rest and
-- `vault.decrypted_secrets` decrypts it for `postgres` and `service_role`. Here secrets are
-- encrypted with pgcrypto (AES via pgp_sym_encrypt) under a root key that lives outside the
-- database, in `<pgdata>/vault.key` (written by the stack, readable only by the server), as
-- real Vault keeps its root key outside the database.

create schema if not exists vault;
revoke all on schema vault from public;
grant usage on schema vault to postgres, service_role;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text unique,
  description text not null default '',
  secret bytea not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
revoke all on vault.secrets from public, anon, authenticated;
grant select, insert, update, delete on vault.secrets to postgres, service_role;

-- The root key; security definer so that only these functions read the file.
create or replace function vault._root_key() returns text
language sql stable security definer
set search_path = ''
as $$ select trim(both e'\n' from pg_catalog.pg_read_file('vault.key')) $$;
revoke all on function vault._root_key() from public, anon, authenticated, service_role;

create or replace function vault._encrypt(plaintext text) returns bytea
language sql volatile security definer
set search_path = ''
as $$ select extensions.pgp_sym_encrypt(plaintext, vault._root_key(), 'cipher-algo=aes256') $$;

create or replace function vault._decrypt(ciphertext bytea) returns text
language sql stable security definer
set search_path = ''
as $$ select extensions.pgp_sym_decrypt(ciphertext, vault._root_key()) $$;

revoke all on function vault._encrypt(text), vault._decrypt(bytea) from public, anon, authenticated;
grant execute on function vault._encrypt(text), vault._decrypt(bytea) to postgres, service_role;

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
) returns uuid
language sql volatile
set search_path = ''
as $$
  insert into vault.secrets (secret, name, description, key_id)
  values (vault._encrypt(new_secret), new_name, coalesce(new_description, ''), new_key_id)
  returning id
$$;

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
) returns void
language sql volatile
set search_path = ''
as $$
  update vault.secrets set
    secret = coalesce(vault._encrypt(new_secret), secret),
    name = coalesce(new_name, name),
    description = coalesce(new_description, description),
    key_id = coalesce(new_key_id, key_id),
    updated_at = now()
  where id = secret_id
$$;

revoke all on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid) from public, anon, authenticated;
grant execute on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid) to postgres, service_role;

create or replace view vault.decrypted_secrets as
  select id, name, description, secret,
         vault._decrypt(secret) as decrypted_secret,
         key_id, nonce, created_at, updated_at
  from vault.secrets;
revoke all on vault.decrypted_secrets from public, anon, authenticated;
grant select on vault.decrypted_secrets to postgres, service_role;
