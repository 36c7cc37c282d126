-- Intent: `stripe.events`, the ledger of every Stripe event the webhook received.
--
-- One row per event id: a duplicate delivery finds its row and has no second effect
-- (`attempts` counts deliveries). Status: `processing` (being applied, or interrupted),
-- `processed`, `ignored` (a type we do not handle: answered 200 so Stripe stops retrying),
-- `unresolved` (mirrored, but no membership could be derived: see `error`; reconciliation
-- retries it) and `failed` (an error; answered 500 so Stripe retries, and reconciliation too).
-- No payload is kept: a retry re-reads the event from Stripe. Read by ops members.

create table if not exists stripe.events (
  id text primary key check (id ~ '^evt_'),
  type text not null,
  object_id text,
  created timestamptz not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  status text not null default 'processing'
    check (status in ('processing', 'processed', 'ignored', 'unresolved', 'failed')),
  attempts integer not null default 1 check (attempts >= 1),
  error text,
  livemode boolean not null default false
);

comment on table stripe.events is
  'Ledger of received Stripe events: one row per event id, with status, attempts and error.';

create index if not exists events_retry_idx on stripe.events (received_at)
  where status in ('processing', 'unresolved', 'failed');
create index if not exists events_object_id_idx on stripe.events (object_id);

alter table stripe.events enable row level security;

revoke all on table stripe.events from public, anon, authenticated;
grant select on table stripe.events to authenticated;
grant select, insert, update, delete on table stripe.events to service_role;
grant select, insert, update on table stripe.events to stagecoach_stripe_sync;

drop policy if exists "Ops members can read the Stripe event ledger" on stripe.events;
create policy "Ops members can read the Stripe event ledger"
  on stripe.events for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "The Stripe sync reads and writes the event ledger" on stripe.events;
create policy "The Stripe sync reads and writes the event ledger"
  on stripe.events for all to stagecoach_stripe_sync
  using (true) with check (true);
