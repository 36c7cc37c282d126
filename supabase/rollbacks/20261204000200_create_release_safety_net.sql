-- Reverts 20261204000200: the release safety net (backups recorded on releases, revert scripts,
-- the watch and its samples, the rollback record, statuses `watching` and `rolled_back`).
-- stagecoach: loses-data drops ops.release_reverts, ops.release_watch_samples and the backup, watch and rollback of every release; releases watching or rolled back become failed
-- The functions get back their 20261203001000 definitions.

drop function if exists ops.finish_release_watch(uuid, text, jsonb);
drop function if exists ops.record_release_rollback(uuid, jsonb);
drop function if exists ops.record_release_sample(uuid, boolean, jsonb);
drop function if exists ops.start_release_watch(uuid, jsonb);
drop function if exists ops.record_release_reverts(uuid, jsonb);
drop function if exists ops.record_release_backup(uuid, jsonb);
drop function if exists ops.release_watch_settings(text);

drop table if exists ops.release_watch_samples;
drop table if exists ops.release_reverts;

delete from ops.jobs where kind = 'release.watch';

alter table ops.releases
  drop column if exists health_queries,
  drop column if exists rollback,
  drop column if exists watch,
  drop column if exists backup;

update ops.releases set status = 'failed', finished_at = coalesce(finished_at, now())
where status in ('watching', 'rolled_back');
alter table ops.releases drop constraint if exists releases_status_check;
alter table ops.releases add constraint releases_status_check
  check (status in ('running', 'waiting_approval', 'succeeded', 'failed', 'nothing_to_release'));

alter table ops.environments
  drop column if exists watch_breach_after,
  drop column if exists watch_every,
  drop column if exists watch_window;

create or replace function ops.notification_event_types()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'promotion.awaiting_approval', 'promotion.approved', 'promotion.rejected', 'promotion.expired',
    'promotion.applying', 'promotion.succeeded', 'promotion.failed', 'promotion.rolled_back',
    'security.member_changed', 'security.policy_changed', 'security.break_glass',
    'release.waiting_approval', 'release.succeeded', 'release.failed'
  ];
$$;

create or replace function ops.record_release_step(
  release_id uuid,
  step text,
  status text,
  summary text default null,
  promotion_id uuid default null
)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
  entry jsonb;
  previous jsonb;
  now_text text := to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
begin
  if step !~ '^[a-z][a-z0-9_]{0,40}$' then
    raise exception 'Cannot record release step %: not a step name', step
      using errcode = 'invalid_parameter_value';
  end if;
  if record_release_step.status not in ('running', 'succeeded', 'failed', 'skipped', 'waiting') then
    raise exception 'Cannot record release step %: status % is not running, succeeded, failed, skipped or waiting', step, status
      using errcode = 'invalid_parameter_value';
  end if;
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null then
    raise exception 'Cannot record release step %: no release %', step, release_id
      using errcode = 'no_data_found';
  end if;
  if r.status in ('succeeded', 'nothing_to_release') then
    raise exception 'Cannot record release step %: release % is %', step, release_id, r.status
      using errcode = 'check_violation';
  end if;
  select e into previous from jsonb_array_elements(r.steps) as e where e->>'name' = step;
  entry := jsonb_build_object(
    'name', step,
    'status', record_release_step.status,
    'started_at', case when record_release_step.status = 'running' or previous is null
                       then now_text else previous->>'started_at' end,
    'finished_at', case when record_release_step.status in ('running', 'waiting') then null
                        else now_text end,
    'summary', left(summary, 2000)
  );
  if record_release_step.status not in ('running', 'waiting') then
    entry := entry || jsonb_build_object('ms', round(extract(epoch from
      (clock_timestamp() - (entry->>'started_at')::timestamptz)) * 1000));
  end if;
  update ops.releases as x
  set steps = case
        when previous is null then x.steps || jsonb_build_array(entry)
        else (select jsonb_agg(case when e->>'name' = step then entry else e end order by i)
              from jsonb_array_elements(x.steps) with ordinality as s(e, i))
      end,
      promotion_id = coalesce(record_release_step.promotion_id, x.promotion_id),
      -- A step running again reopens a waiting or failed release (a re-run continues it).
      status = case when x.status in ('failed', 'waiting_approval')
                         and record_release_step.status = 'running'
                    then 'running' else x.status end,
      finished_at = case when x.status in ('failed', 'waiting_approval')
                              and record_release_step.status = 'running'
                         then null else x.finished_at end
  where x.id = release_id
  returning * into r;
  perform ops.append_audit('release.step', 'release', r.id::text,
    jsonb_build_object('step', step, 'status', record_release_step.status,
                       'summary', left(summary, 2000)),
    r.environment);
  return r;
end;
$$;

create or replace function ops.set_release_status(release_id uuid, status text)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
  event_type text;
begin
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null then
    raise exception 'Cannot set the status of release %: no such release', release_id
      using errcode = 'no_data_found';
  end if;
  if r.status = status then
    return r;
  end if;
  if r.status in ('succeeded', 'nothing_to_release')
     or status not in ('running', 'waiting_approval', 'succeeded', 'failed', 'nothing_to_release') then
    raise exception 'Cannot move release % from % to %', release_id, r.status, status
      using errcode = 'check_violation';
  end if;
  update ops.releases as x
  set status = set_release_status.status,
      finished_at = case when set_release_status.status in ('succeeded', 'failed', 'nothing_to_release')
                         then now() end
  where x.id = release_id
  returning * into r;
  perform ops.append_audit('release.' || status, 'release', r.id::text,
    jsonb_build_object('git_sha', r.git_sha, 'source_env', r.source_env,
                       'promotion_id', r.promotion_id), r.environment);
  event_type := 'release.' || status;
  if event_type = any (ops.notification_event_types()) then
    insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
    select gen_random_uuid(), e.id, event_type,
           jsonb_build_object(
             'type', event_type,
             'timestamp', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
             'data', jsonb_build_object(
               'release_id', r.id,
               'environment', r.environment,
               'source_env', r.source_env,
               'git_sha', r.git_sha,
               'status', r.status,
               'started_by', r.started_by,
               'promotion_id', r.promotion_id,
               'steps', (select coalesce(jsonb_agg(jsonb_build_object(
                           'name', s->>'name', 'status', s->>'status', 'summary', s->>'summary')
                           order by i), '[]'::jsonb)
                         from jsonb_array_elements(r.steps) with ordinality as t(s, i))
             )
           )
    from ops.notification_endpoints as e
    where e.environment = r.environment and e.enabled
      and ('*' = any (e.events) or event_type = any (e.events));
  end if;
  return r;
end;
$$;
