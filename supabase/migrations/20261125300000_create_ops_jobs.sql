-- Intent: `ops.jobs`, the resumable job engine's state: one row per long-running job (user
-- copies, ETL transforms, Stripe reconciliation, ...), checkpointed after every batch.
--
-- A job is `kind` + `params` (validated by the kind's zod schema, never secrets: secrets and
-- connection strings are handed to the runner by its host at run time). Progress lives in
-- `cursor` (a keyset cursor per table, e.g. {"auth.users": "<last id>"}), `counts` (rows done
-- per table), `totals` (rows expected per table, for ETA) and `state` (the kind's own small
-- state). The runner updates them in the same transaction as the batch it describes, so a run
-- killed at any moment resumes from the last committed batch: no duplicates, no gaps.
--
-- Leases. A runner claims a job by setting `lease_token` (a fresh uuid), `lease_owner` and
-- `lease_expires_at`; every checkpoint renews the lease and only succeeds while the token is
-- still the runner's (fencing), so two runners can never both commit a batch. A crashed runner's
-- lease simply expires. `executor` says who picks the job up on its own: the ops-worker only
-- runs 'worker' jobs; 'cli' jobs are run (and resumed) by the CLI that created them.
--
-- Written by the engine as `postgres` (CLI) or `service_role` (ops-worker). Ops members read
-- every job; operators and admins may queue a job and cancel or re-queue one (nothing else).

create table if not exists ops.jobs (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' and length(kind) <= 64),
  params jsonb not null default '{}' check (jsonb_typeof(params) = 'object'),
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  executor text not null default 'worker' check (executor in ('worker', 'cli')),
  cursor jsonb not null default '{}' check (jsonb_typeof(cursor) = 'object'),
  counts jsonb not null default '{}' check (jsonb_typeof(counts) = 'object'),
  totals jsonb not null default '{}' check (jsonb_typeof(totals) = 'object'),
  state jsonb not null default '{}' check (jsonb_typeof(state) = 'object'),
  result jsonb,
  -- { code, message, details } of the failure that stopped the job; null otherwise.
  error jsonb check (error is null or jsonb_typeof(error) = 'object'),
  attempts integer not null default 0 check (attempts >= 0),
  slices integer not null default 0 check (slices >= 0),
  run_after timestamptz not null default now(),
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  heartbeat_at timestamptz,
  created_by uuid default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint jobs_finished_has_time check (
    status not in ('succeeded', 'failed', 'canceled') or finished_at is not null
  )
);

comment on table ops.jobs is
  'Resumable, checkpointed jobs (copies, ETL, reconciliation): params without secrets, keyset cursor per table, counts, lease and heartbeat.';
comment on column ops.jobs.cursor is
  'Keyset cursor per table: the last key committed, e.g. {"auth.users": "6f1c…"}.';
comment on column ops.jobs.lease_token is
  'Fencing token of the runner holding the job; checkpoints only commit while it matches.';

create index if not exists jobs_due_idx on ops.jobs (run_after)
  where status in ('queued', 'running');
create index if not exists jobs_kind_created_idx on ops.jobs (kind, created_at desc);

alter table ops.jobs enable row level security;

revoke all on table ops.jobs from public, anon, authenticated, service_role;
grant select, insert on table ops.jobs to authenticated;
-- Members may only cancel or re-queue: the progress columns belong to the engine.
grant update (status, run_after) on table ops.jobs to authenticated;
grant select, insert, update on table ops.jobs to service_role;

create or replace trigger set_updated_at
  before update on ops.jobs
  for each row execute function private.set_updated_at();

-- Keeps the lifecycle columns consistent whoever changes the status (a member cancelling
-- through the API included): a finished job gets its finish time and loses its lease, so the
-- runner holding it fails its next checkpoint and stops; a re-queued job is unfinished again.
create or replace function ops.stamp_job_status()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status in ('succeeded', 'failed', 'canceled') then
    new.finished_at := coalesce(new.finished_at, now());
    new.lease_token := null;
    new.lease_owner := null;
    new.lease_expires_at := null;
  elsif new.status = 'queued' then
    new.finished_at := null;
  end if;
  return new;
end;
$$;

revoke all on function ops.stamp_job_status() from public;

create or replace trigger stamp_job_status
  before insert or update of status on ops.jobs
  for each row execute function ops.stamp_job_status();

drop policy if exists "Ops members can read jobs" on ops.jobs;
create policy "Ops members can read jobs"
  on ops.jobs for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Operators and admins can queue jobs" on ops.jobs;
create policy "Operators and admins can queue jobs"
  on ops.jobs for insert to authenticated
  with check (
    (select ops.has_role('operator', 'admin'))
    and status = 'queued'
    and created_by = (select auth.uid())
  );

drop policy if exists "Operators and admins can cancel or re-queue jobs" on ops.jobs;
create policy "Operators and admins can cancel or re-queue jobs"
  on ops.jobs for update to authenticated
  using ((select ops.has_role('operator', 'admin')))
  with check (
    (select ops.has_role('operator', 'admin'))
    and status in ('queued', 'canceled')
  );
