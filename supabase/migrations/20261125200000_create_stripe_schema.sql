-- Intent: the `stripe` schema, which mirrors this environment's Stripe account, and the role
-- that alone writes it: `stagecoach_stripe_sync`.
--
-- The role cannot log in. It owns the security definer functions the `stripe-webhook`
-- function and the reconciliation job call (later migrations), so those functions run with
-- exactly its privileges: write the mirror and memberships, read tiers and prices — nothing
-- in `ops` or `auth`. That is the webhook's narrow, named service path; nobody else writes
-- the mirror (service_role keeps Supabase's usual admin access).
-- `stripe` is not exposed through the Data API: users read their rows over SQL as the
-- caller, so row-level security decides.

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'stagecoach_stripe_sync') then
    create role stagecoach_stripe_sync nologin noinherit;
  end if;
end
$$;

comment on role stagecoach_stripe_sync is
  'Writes the stripe mirror and memberships; owns the stripe.* ingest functions. Cannot log in.';

-- Lets the migration runner hand functions to the role (PG 15: needs membership).
grant stagecoach_stripe_sync to postgres;

create schema if not exists stripe;

comment on schema stripe is
  'Mirror of this environment''s Stripe account (webhook-driven, reconciled nightly) and its event ledger.';

revoke all on schema stripe from public;
grant usage on schema stripe to authenticated, service_role, stagecoach_stripe_sync;
