-- Intent: the fingerprints a user copy stores for its leak scan (`private.users_copy_fingerprints`)
-- do not outlive the copy. A copy that validates deletes its own; one that failed or was
-- cancelled keeps them so that a resume (`users copy --resume`) finds them — but a copy nobody
-- resumes kept them until its job row was deleted, i.e. for good. Now pg_cron sweeps, every day,
-- the fingerprints of jobs that ended more than 7 days ago. A copy resumed after that notices
-- the missing batches (its checkpoints count what it stored) and its leak scan reads the source
-- again, as after a crash of the target.

create or replace function private.sweep_users_copy_fingerprints(
  ended_before interval default interval '7 days'
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  swept integer;
begin
  if ended_before is null or ended_before < interval '0' then
    raise exception 'Cannot sweep user copy fingerprints: ended_before must be a non-negative interval, got %',
      coalesce(ended_before::text, 'null')
      using errcode = '22023';
  end if;
  delete from private.users_copy_fingerprints as f
  using ops.jobs as j
  where j.id = f.job_id
    and j.status in ('succeeded', 'failed', 'canceled')
    and j.finished_at < now() - ended_before;
  get diagnostics swept = row_count;
  return swept;
end;
$$;

comment on function private.sweep_users_copy_fingerprints(interval) is
  'Deletes the leak-scan fingerprints of user copies whose job ended before now() - ended_before (default 7 days); returns how many batch rows went. pg_cron runs it daily.';

revoke all on function private.sweep_users_copy_fingerprints(interval) from public, anon, authenticated, service_role;

-- Scheduling by name replaces the job, so re-running this migration is harmless.
select cron.schedule(
  'users-copy-fingerprints-sweep',
  '41 4 * * *',
  'select private.sweep_users_copy_fingerprints()'
);
