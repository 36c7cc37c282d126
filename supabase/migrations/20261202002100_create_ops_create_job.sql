-- Intent: job rows are created only through `ops.create_job(kind, params, executor)`, which
-- checks the caller and the parameters for the kind before inserting; nobody but the table's
-- owner writes `ops.jobs` directly any more.
--
-- Who may do what:
-- * members (role `authenticated`, as the ops function and the Data API run them): operators
--   and admins queue known kinds; only an admin may give a `users.copy` a `where` predicate
--   (it is SQL evaluated on the source). They may still cancel or re-queue a job (status and
--   run_after, under the existing policy) and nothing else;
-- * `service_role` queues known kinds without a `where`, and only reads otherwise;
-- * the owner (`postgres`: the CLI, pg_cron, the ops-worker's engine) queues any kind it runs
--   and may seed a job's progress (`totals`, `state`: the CLI hands over its preflight). The
--   engine's leases and checkpoints are the owner's own updates (`_shared/jobs/store.ts`), so
--   no API role needs INSERT or UPDATE of the progress columns.
--
-- `created_via` records which of these created a job, and every slice re-checks the job with
-- the same rules (`private.recheck_job`, called by the runner before a kind runs): a job whose
-- creator is no longer an admin loses its `where`; a row written around this function
-- (before this migration) with a manifest in its params no longer runs.

alter table ops.jobs add column if not exists created_via text;
update ops.jobs
  set created_via = case when created_by is null then 'unknown' else 'member' end
  where created_via is null;
-- Only the owner inserts directly (no API role holds INSERT); ops.create_job sets it always.
alter table ops.jobs alter column created_via set default 'owner';
alter table ops.jobs alter column created_via set not null;
alter table ops.jobs drop constraint if exists jobs_created_via_check;
alter table ops.jobs add constraint jobs_created_via_check
  check (created_via in ('owner', 'service_role', 'member', 'unknown'));

comment on column ops.jobs.created_via is
  'Who created the job: owner (the database owner: CLI, pg_cron), service_role, member (created_by says who), or unknown (before ops.create_job existed).';

-- Who is calling, whatever function they are in: the API role the request switched to
-- (`role` is the setting PostgREST and asCaller set; security definer does not change it), or
-- `owner` when no API role is set (a direct connection as postgres, pg_cron).
create or replace function private.job_caller()
returns text
language sql
stable
set search_path = ''
as $$
  select case pg_catalog.current_setting('role')
    when 'authenticated' then 'member'
    when 'service_role' then 'service_role'
    when 'anon' then 'anon'
    else 'owner'
  end;
$$;

comment on function private.job_caller() is
  'The caller of a job function: member (authenticated), service_role, anon, or owner (no API role set).';

-- The rules a job must meet, when it is queued and again before every slice.
create or replace function private.check_job(
  kind text,
  params jsonb,
  created_via text,
  created_by uuid,
  action text
)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  problems text[] := private.job_param_problems(check_job.kind, check_job.params);
begin
  if problems is null then
    if check_job.created_via = 'owner' then
      return; -- a kind the database does not describe (the engine's own tests): owner only
    end if;
    raise exception 'Cannot %: the database knows no job kind %', check_job.action, check_job.kind
      using errcode = '42501';
  end if;
  if pg_catalog.cardinality(problems) > 0 then
    raise exception 'Cannot %: invalid parameters (%)', check_job.action,
      pg_catalog.array_to_string(problems, '; ')
      using errcode = '22023';
  end if;
  if check_job.kind = 'users.copy' and check_job.params -> 'selection' ? 'where' and not (
    check_job.created_via = 'owner'
    or (check_job.created_via = 'member' and exists (
      select 1 from ops.members as m
      where m.user_id = check_job.created_by and m.role = 'admin'
    ))
  ) then
    raise exception 'Cannot %: only an admin may select users with a where predicate (it runs as SQL on the source)',
      check_job.action
      using errcode = '42501';
  end if;
end;
$$;

comment on function private.check_job(text, jsonb, text, uuid, text) is
  'Raises unless a job''s parameters fit its kind and its creator may use them (a users.copy where: admins and the owner).';

create or replace function ops.create_job(
  kind text,
  params jsonb default '{}',
  executor text default 'worker',
  totals jsonb default '{}',
  state jsonb default '{}'
)
returns ops.jobs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller constant text := private.job_caller();
  action constant text := format('queue job %s', create_job.kind);
  job ops.jobs;
begin
  if caller = 'anon' or (caller = 'member' and not ops.has_role('operator', 'admin')) then
    raise exception 'Cannot %: only operators and admins queue jobs', action
      using errcode = '42501';
  end if;
  if create_job.executor is null or create_job.executor not in ('worker', 'cli') then
    raise exception 'Cannot %: executor must be worker or cli', action using errcode = '22023';
  end if;
  if caller <> 'owner'
    and (create_job.totals is distinct from '{}'::jsonb or create_job.state is distinct from '{}'::jsonb)
  then
    raise exception 'Cannot %: only the database owner seeds a job''s progress', action
      using errcode = '42501';
  end if;
  perform private.check_job(create_job.kind, create_job.params, caller, auth.uid(), action);
  if create_job.kind = 'users.copy'
    and create_job.params ->> 'manifest_hash' is distinct from private.users_copy_manifest_hash()
  then
    raise exception 'Cannot %: its manifest_hash % differs from the hash of the manifest this release ships, % (supabase/anonymize.json)',
      action, create_job.params ->> 'manifest_hash', private.users_copy_manifest_hash()
      using errcode = '22023';
  end if;

  insert into ops.jobs (kind, params, executor, totals, state, created_by, created_via)
  values (create_job.kind, create_job.params, create_job.executor, create_job.totals,
          create_job.state, auth.uid(), caller)
  returning * into job;
  return job;
end;
$$;

comment on function ops.create_job(text, jsonb, text, jsonb, jsonb) is
  'The only way to create a job: checks the caller (operators, admins, service_role, the owner) and the parameters for the kind, then queues it.';

-- Before every slice: the same rules, for the job as stored. The runner (the owner) calls it.
create or replace function private.recheck_job(job_id uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  job ops.jobs;
begin
  select * into job from ops.jobs as j where j.id = recheck_job.job_id;
  if found then
    perform private.check_job(job.kind, job.params, job.created_via, job.created_by,
      format('run job %s (%s)', job.id, job.kind));
  end if;
end;
$$;

comment on function private.recheck_job(uuid) is
  'Raises unless a stored job still meets the rules of ops.create_job; the runner calls it before every slice.';

revoke all on function private.job_caller() from public, anon, authenticated, service_role;
revoke all on function private.check_job(text, jsonb, text, uuid, text)
  from public, anon, authenticated, service_role;
revoke all on function private.recheck_job(uuid) from public, anon, authenticated, service_role;
revoke all on function ops.create_job(text, jsonb, text, jsonb, jsonb) from public, anon;
grant execute on function ops.create_job(text, jsonb, text, jsonb, jsonb)
  to authenticated, service_role;

-- Nobody inserts around the function; members keep cancel / re-queue (status, run_after).
revoke insert on table ops.jobs from authenticated, service_role;
revoke update on table ops.jobs from service_role;
drop policy if exists "Operators and admins can queue jobs" on ops.jobs;
