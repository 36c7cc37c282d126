-- Intent: `ops.heartbeats`, the last sign of life of each background component.
--
-- The ops-worker upserts its row on every call:
--   insert into ops.heartbeats (component, beat_at, details) values ('ops-worker', now(), $1)
--   on conflict (component) do update set beat_at = excluded.beat_at, details = excluded.details;
-- Written by the service role only; read by ops members (health checks, the CLI's status).

create table if not exists ops.heartbeats (
  component text primary key check (component ~ '^[a-z][a-z0-9_-]*$'),
  beat_at timestamptz not null default now(),
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object')
);

comment on table ops.heartbeats is 'Last heartbeat of each background component (e.g. ops-worker).';

alter table ops.heartbeats enable row level security;

revoke all on table ops.heartbeats from public, anon, authenticated, service_role;
grant select on table ops.heartbeats to authenticated;
grant select, insert, update, delete on table ops.heartbeats to service_role;

drop policy if exists "Ops members can read heartbeats" on ops.heartbeats;
create policy "Ops members can read heartbeats"
  on ops.heartbeats for select to authenticated
  using ((select ops.is_member()));
