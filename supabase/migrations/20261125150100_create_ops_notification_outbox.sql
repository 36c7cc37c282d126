-- Intent: `ops.notification_outbox`, one row per (event, endpoint) to deliver, written in the
-- same transaction as the event (transactional outbox), and the worker's claim on due rows.
--
-- Lifecycle: pending → delivered, or pending → … → dead after the worker's maximum number of
-- attempts. `attempts` counts attempts started; `next_attempt_at` is when the row is due.
--
-- Claiming. `ops.claim_notifications(max_rows, lease, as_of)` picks due rows with
-- `for update skip locked` (concurrent workers never take the same row), counts the attempt
-- and pushes `next_attempt_at` a lease ahead, then commits: the HTTP call happens outside any
-- transaction. A worker that dies mid-delivery leaves the row to come back when the lease
-- ends. The worker records the outcome only while `attempts` is still the number it claimed
-- (a fencing token), so a late worker cannot overwrite a newer attempt. The claim is the one
-- place that decrypts endpoint URLs and signing secrets: security definer, service role only.
--
-- The payload is the event as sent to generic webhooks ({type, timestamp, data}); it never
-- holds secrets. Ops members read the outbox; only the worker (service role) updates it; rows
-- are inserted by the database's own triggers.

create table if not exists ops.notification_outbox (
  id bigint generated always as identity primary key,
  -- The event's id, shared by every endpoint it goes to (Standard Webhooks `webhook-id`).
  event_id uuid not null,
  endpoint_id uuid not null references ops.notification_endpoints (id) on delete cascade,
  event_type text not null check (event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  promotion_id uuid references ops.promotions (id) on delete cascade,
  payload jsonb not null check (jsonb_typeof(payload) = 'object'),
  status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  last_status_code integer check (last_status_code between 100 and 599),
  last_error text check (length(last_error) <= 1000),
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  constraint notification_outbox_one_row_per_event_and_endpoint unique (event_id, endpoint_id),
  constraint notification_outbox_delivered_has_time
    check ((status = 'delivered') = (delivered_at is not null))
);

comment on table ops.notification_outbox is
  'Notifications to deliver, one per event and endpoint, written with the event; delivered by the ops-worker.';

create index if not exists notification_outbox_due_idx
  on ops.notification_outbox (next_attempt_at) where status = 'pending';
create index if not exists notification_outbox_endpoint_idx on ops.notification_outbox (endpoint_id);
create index if not exists notification_outbox_promotion_idx on ops.notification_outbox (promotion_id);

alter table ops.notification_outbox enable row level security;

revoke all on table ops.notification_outbox from public, anon, authenticated, service_role;
grant select on table ops.notification_outbox to authenticated, service_role;
grant update (status, next_attempt_at, last_status_code, last_error, delivered_at)
  on table ops.notification_outbox to service_role;

drop policy if exists "Ops members can read the notification outbox" on ops.notification_outbox;
create policy "Ops members can read the notification outbox"
  on ops.notification_outbox for select to authenticated
  using ((select ops.is_member()));

-- Claims up to max_rows due notifications of enabled endpoints for one attempt each, oldest
-- due first, and returns them with the endpoint's decrypted URL and signing secret.
create or replace function ops.claim_notifications(
  max_rows integer,
  lease interval,
  as_of timestamptz default now()
)
returns table (
  outbox_id bigint,
  event_id uuid,
  event_type text,
  payload jsonb,
  attempt integer,
  endpoint_id uuid,
  endpoint_name text,
  endpoint_kind text,
  url text,
  signing_secret text
)
language sql
volatile
security definer
set search_path = ''
as $$
  with due as (
    select o.id
    from ops.notification_outbox as o
    join ops.notification_endpoints as e on e.id = o.endpoint_id
    where o.status = 'pending' and o.next_attempt_at <= as_of and e.enabled
    order by o.next_attempt_at, o.id
    limit greatest(max_rows, 0)
    for update of o skip locked
  ),
  claimed as (
    update ops.notification_outbox as o
       set attempts = o.attempts + 1,
           last_attempt_at = as_of,
           next_attempt_at = as_of + lease
      from due
     where o.id = due.id
    returning o.id, o.event_id, o.event_type, o.payload, o.attempts, o.endpoint_id
  )
  select c.id, c.event_id, c.event_type, c.payload, c.attempts, e.id, e.name, e.kind,
         private.decrypt_config_secret(e.url_ciphertext),
         private.decrypt_config_secret(e.secret_ciphertext)
  from claimed as c
  join ops.notification_endpoints as e on e.id = c.endpoint_id
  order by c.id;
$$;

comment on function ops.claim_notifications(integer, interval, timestamptz) is
  'Worker only: claims due notifications (skip locked, one attempt each, leased) with their endpoint URL and signing secret.';

revoke all on function ops.claim_notifications(integer, interval, timestamptz) from public, anon, authenticated;
grant execute on function ops.claim_notifications(integer, interval, timestamptz) to service_role;
