-- Intent: the `stripe-webhook` function trusts a signing secret only when Stripe handed it to
-- Stagecoach, not because someone stored a value under the right config key. Until now it
-- fell back to `app_config` `stripe.webhook_secret`, which `config set-secret` can write: an
-- operator could sign events with a secret of their choosing and grant anyone a membership.
--
-- `ops.stripe_endpoint_secrets` holds the signing secret of each webhook endpoint the catalog
-- sync created, encrypted under this environment's Vault key, with the promotion whose apply
-- recorded it. It is written only by `ops.record_endpoint_secret`, which only the apply path
-- (the database owner, holding the promotion's write permit) can call; no API role reads it.
-- The webhook accepts its function secret and the newest of these, nothing else.

create table if not exists ops.stripe_endpoint_secrets (
  endpoint_id text primary key check (endpoint_id ~ '^we_'),
  promotion_id uuid not null references ops.promotions (id),
  secret_ciphertext bytea not null,
  secret_fingerprint text not null,
  created_at timestamptz not null default now()
);

comment on table ops.stripe_endpoint_secrets is
  'Signing secrets of the Stripe webhook endpoints catalog sync created, encrypted; written only by the apply path.';

create index if not exists stripe_endpoint_secrets_promotion_idx
  on ops.stripe_endpoint_secrets (promotion_id);

alter table ops.stripe_endpoint_secrets enable row level security;

revoke all on table ops.stripe_endpoint_secrets from public, anon, authenticated, service_role;

create or replace function ops.record_endpoint_secret(promotion uuid, endpoint text, secret text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select 1
    from ops.promotions as p
    where p.id = promotion
      and p.id = (private.current_permit()).promotion_id
      and (private.current_permit()).purpose = 'apply'
      and p.status = 'applying'
      and 'stripe' = any (p.scope)
  ) then
    raise exception 'Cannot record the signing secret of %: only the apply of a promotion with scope stripe may', endpoint
      using errcode = 'insufficient_privilege';
  end if;
  insert into ops.stripe_endpoint_secrets (endpoint_id, promotion_id, secret_ciphertext, secret_fingerprint)
  values (endpoint, promotion, private.encrypt_config_secret(secret), private.secret_fingerprint(secret))
  on conflict (endpoint_id) do update
    set promotion_id = excluded.promotion_id,
        secret_ciphertext = excluded.secret_ciphertext,
        secret_fingerprint = excluded.secret_fingerprint,
        created_at = now();
  perform ops.append_audit('stripe.endpoint_secret_recorded', 'promotion', promotion::text,
                           jsonb_build_object('endpoint', endpoint,
                                              'fingerprint', private.secret_fingerprint(secret)));
end;
$$;

comment on function ops.record_endpoint_secret(uuid, text, text) is
  'Apply path only: stores the signing secret Stripe returned for an endpoint catalog sync created.';

revoke all on function ops.record_endpoint_secret(uuid, text, text) from public, anon, authenticated, service_role;

-- The secret the webhook may try after its own: the newest recorded endpoint secret.
create or replace function private.trusted_endpoint_secret()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select private.decrypt_config_secret(s.secret_ciphertext)
  from ops.stripe_endpoint_secrets as s
  order by s.created_at desc
  limit 1;
$$;

revoke all on function private.trusted_endpoint_secret() from public, anon, authenticated, service_role;

-- RLS with no API grant: nobody reads or writes it through the Data API or as `authenticated`.
drop policy if exists "Nobody reads endpoint secrets through the API" on ops.stripe_endpoint_secrets;
create policy "Nobody reads endpoint secrets through the API"
  on ops.stripe_endpoint_secrets for select to authenticated
  using (false);
