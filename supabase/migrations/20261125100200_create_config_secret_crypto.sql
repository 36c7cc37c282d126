-- Intent: secret config values are stored encrypted, under a key of this environment kept in
-- Vault (`stagecoach_config_key`, created here once), and identified across environments by a
-- fingerprint that reveals nothing useful about the value.
--
-- Fingerprint: 'sha256:' + the first 16 hex digits of SHA-256('stagecoach.secret.v1:' || value).
-- Equal values have equal fingerprints in every environment, so plans compare secrets without
-- decrypting them. (Meant for API keys and tokens; a low-entropy secret could be guessed from
-- its fingerprint, as from any unsalted hash.)
--
-- Encryption and decryption are service paths only (service_role and postgres); operators set
-- a secret through `ops.set_config_secret`, which checks their role and never returns it.

do $$
begin
  if not exists (select 1 from vault.secrets where name = 'stagecoach_config_key') then
    perform vault.create_secret(
      encode(extensions.gen_random_bytes(32), 'hex'),
      'stagecoach_config_key',
      'Stagecoach: encrypts secret app_config values of this environment'
    );
  end if;
end;
$$;

grant usage on schema private to service_role;

create or replace function private.config_secret_key()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select s.decrypted_secret from vault.decrypted_secrets as s where s.name = 'stagecoach_config_key';
$$;

revoke all on function private.config_secret_key() from public, anon, authenticated, service_role;

create or replace function private.secret_fingerprint(plaintext text)
returns text
language sql
immutable
strict
set search_path = ''
as $$
  select 'sha256:' || left(encode(extensions.digest('stagecoach.secret.v1:' || plaintext, 'sha256'), 'hex'), 16);
$$;

create or replace function private.encrypt_config_secret(plaintext text)
returns bytea
language plpgsql
volatile
strict
security definer
set search_path = ''
as $$
declare
  k text := private.config_secret_key();
begin
  if k is null then
    raise exception 'Cannot encrypt secret: Vault has no stagecoach_config_key';
  end if;
  return extensions.pgp_sym_encrypt(plaintext, k, 'cipher-algo=aes256');
end;
$$;

create or replace function private.decrypt_config_secret(ciphertext bytea)
returns text
language sql
stable
strict
security definer
set search_path = ''
as $$
  select extensions.pgp_sym_decrypt(ciphertext, private.config_secret_key());
$$;

revoke all on function private.secret_fingerprint(text), private.encrypt_config_secret(text),
  private.decrypt_config_secret(bytea) from public, anon, authenticated;
grant execute on function private.secret_fingerprint(text), private.encrypt_config_secret(text),
  private.decrypt_config_secret(bytea) to service_role;

-- Sets (or replaces) a secret config entry. Operators and admins only; returns the
-- fingerprint, never the value. Re-running with the same value changes nothing.
create or replace function ops.set_config_secret(
  config_key text,
  plaintext text,
  description text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  fp text;
  current_fp text;
begin
  if not (ops.has_role('operator', 'admin') or auth.role() = 'service_role'
          or (auth.role() is null and auth.uid() is null)) then
    raise exception 'Cannot set secret %: only operators and admins may', config_key
      using errcode = 'insufficient_privilege';
  end if;
  if plaintext is null or plaintext = '' then
    raise exception 'Cannot set secret %: the value is empty', config_key;
  end if;
  fp := private.secret_fingerprint(plaintext);
  select c.secret_fingerprint into current_fp from public.app_config as c where c.key = config_key;
  if current_fp is not distinct from fp then
    return fp;
  end if;
  insert into public.app_config as c (key, value, description, is_secret, secret_ciphertext,
                                      secret_fingerprint, updated_by)
  values (config_key, null, description, true, private.encrypt_config_secret(plaintext), fp,
          auth.uid())
  on conflict (key) do update
    set value = null,
        is_secret = true,
        description = coalesce(excluded.description, c.description),
        secret_ciphertext = excluded.secret_ciphertext,
        secret_fingerprint = excluded.secret_fingerprint,
        updated_by = excluded.updated_by;
  perform ops.append_audit('config.secret_set', 'app_config', config_key,
                           jsonb_build_object('fingerprint', fp));
  return fp;
end;
$$;

comment on function ops.set_config_secret(text, text, text) is
  'Stores a secret config value encrypted; operators and admins only; returns its fingerprint.';

revoke all on function ops.set_config_secret(text, text, text) from public, anon;
grant execute on function ops.set_config_secret(text, text, text) to authenticated, service_role;
