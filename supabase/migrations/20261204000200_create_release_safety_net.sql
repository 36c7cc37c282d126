-- Intent: the safety net of a release into this environment (issue 12), kept in the database so
-- it survives the CLI or the CI runner being killed:
--
-- * `ops.releases.backup`: the verified backup the release took before changing anything
--   (id, manifest SHA-256, key fingerprint, where it was written, tables and rows verified).
-- * `ops.release_reverts`: each migration the release pushes, with its revert script's text and
--   SHA-256 (checked against the bytes and against the approved plan) and whether reverting it
--   loses data. A release is rolled back from these rows, not from a checkout.
-- * The watch: after a release applies into an environment with a watch window (production:
--   10 minutes unless `ops.environments.watch_window` says otherwise), the release is
--   `watching`; a `release.watch` job (ops.jobs, run by the CLI and, if it dies, by the
--   ops-worker that pg_cron calls) takes a sample every `watch_every` into
--   `ops.release_watch_samples` (functions, the Stripe ledger since the release, the validation
--   checks, the team's health queries recorded on the release). `watch_breach_after`
--   consecutive unhealthy samples roll the release back by themselves; a window without breach
--   makes it `succeeded`.
-- * `ops.releases.rollback`: what a rollback did (trigger, the data promotion, the migrations
--   reverted, or why it stopped and the restore command), and the statuses `watching` and
--   `rolled_back`; `release.rolled_back` notifies.
--
-- Written only through the functions below (the release CLI's and the ops-worker's database
-- owner connection); ops members read.

-- Watch settings. A null window means the kind's default: 10 minutes in production, none
-- elsewhere.
alter table ops.environments
  add column if not exists watch_window interval
    check (watch_window is null or watch_window between interval '0' and interval '1 day'),
  add column if not exists watch_every interval not null default interval '30 seconds'
    check (watch_every between interval '1 second' and interval '10 minutes'),
  add column if not exists watch_breach_after integer not null default 3
    check (watch_breach_after between 1 and 100);

comment on column ops.environments.watch_window is
  'How long a release is watched after it applies (null: 10 minutes in production, none elsewhere).';
comment on column ops.environments.watch_every is 'Time between two samples of a release watch.';
comment on column ops.environments.watch_breach_after is
  'Consecutive unhealthy samples that roll a watched release back.';

alter table ops.releases drop constraint if exists releases_status_check;
alter table ops.releases add constraint releases_status_check
  check (status in ('running', 'waiting_approval', 'watching', 'succeeded', 'failed',
                    'rolled_back', 'nothing_to_release'));

alter table ops.releases
  add column if not exists backup jsonb
    check (backup is null or jsonb_typeof(backup) = 'object'),
  add column if not exists watch jsonb
    check (watch is null or jsonb_typeof(watch) = 'object'),
  add column if not exists rollback jsonb
    check (rollback is null or jsonb_typeof(rollback) = 'object'),
  -- [{ name, sql, sha256, threshold, direction }]: `supabase/health/*.sql` of the release's commit.
  add column if not exists health_queries jsonb not null default '[]'
    check (jsonb_typeof(health_queries) = 'array');

create table if not exists ops.release_reverts (
  release_id uuid not null references ops.releases (id) on delete cascade,
  version text not null check (version ~ '^\d{1,20}$'),
  name text not null check (name ~ '^[A-Za-z0-9_.-]{1,200}$'),
  -- The revert script (`supabase/rollbacks/<version>_<name>.sql`) and the SHA-256 of its bytes;
  -- both null when the migration has none (then only a restore undoes it).
  sql text,
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  loses_data boolean not null default false,
  reason text check (length(reason) <= 500),
  recorded_at timestamptz not null default now(),
  primary key (release_id, version),
  constraint release_reverts_sql_and_hash check ((sql is null) = (sha256 is null))
);

comment on table ops.release_reverts is
  'The revert script of each migration a release pushed (text, SHA-256, loses-data), read by release rollback and the watch.';

create table if not exists ops.release_watch_samples (
  release_id uuid not null references ops.releases (id) on delete cascade,
  seq integer not null check (seq >= 1),
  taken_at timestamptz not null default now(),
  healthy boolean not null,
  -- [{ name, value, threshold, direction, healthy, detail? }]
  metrics jsonb not null check (jsonb_typeof(metrics) = 'array'),
  primary key (release_id, seq)
);

comment on table ops.release_watch_samples is
  'Samples of a release watch: each metric with its value, threshold and direction.';

alter table ops.release_reverts enable row level security;
alter table ops.release_watch_samples enable row level security;

revoke all on table ops.release_reverts from public, anon, authenticated, service_role;
revoke all on table ops.release_watch_samples from public, anon, authenticated, service_role;
grant select on table ops.release_reverts to authenticated;
grant select on table ops.release_watch_samples to authenticated;

drop policy if exists "Ops members can read release reverts" on ops.release_reverts;
create policy "Ops members can read release reverts"
  on ops.release_reverts for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Ops members can read release watch samples" on ops.release_watch_samples;
create policy "Ops members can read release watch samples"
  on ops.release_watch_samples for select to authenticated
  using ((select ops.is_member()));

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
    'release.waiting_approval', 'release.succeeded', 'release.failed', 'release.rolled_back'
  ];
$$;

-- The watch an environment asks for: window and interval in seconds, breach count.
create or replace function ops.release_watch_settings(environment text)
returns table (window_s integer, every_s integer, breach_after integer)
language sql
stable
security definer
set search_path = ''
as $$
  select ceil(extract(epoch from coalesce(e.watch_window,
           case when e.kind = 'production' then interval '10 minutes' else interval '0' end)))::integer,
         ceil(extract(epoch from e.watch_every))::integer,
         e.watch_breach_after
  from ops.environments as e
  where e.name = release_watch_settings.environment;
$$;

-- Sets a release's status; a terminal or waiting one notifies the endpoints that asked for it.
-- (As in 20261203001000, plus `watching` and `rolled_back`, and the watch and rollback in the
-- notification.)
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
  if r.status in ('nothing_to_release', 'rolled_back')
     or (r.status = 'succeeded' and status <> 'rolled_back')
     or status not in ('running', 'waiting_approval', 'watching', 'succeeded', 'failed',
                       'rolled_back', 'nothing_to_release') then
    raise exception 'Cannot move release % from % to %', release_id, r.status, status
      using errcode = 'check_violation';
  end if;
  update ops.releases as x
  set status = set_release_status.status,
      finished_at = case when set_release_status.status in ('succeeded', 'failed', 'rolled_back',
                                                             'nothing_to_release')
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
             ) || jsonb_strip_nulls(jsonb_build_object('watch', r.watch, 'rollback', r.rollback))
           )
    from ops.notification_endpoints as e
    where e.environment = r.environment and e.enabled
      and ('*' = any (e.events) or event_type = any (e.events));
  end if;
  return r;
end;
$$;

-- A step may be recorded on a watching or rolled-back release too (e.g. `watch`, `rollback`).
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
  if r.status = 'nothing_to_release'
     or (r.status in ('succeeded', 'rolled_back') and step not in ('watch', 'rollback')) then
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

-- Records the backup a release took (and verified) before changing anything.
create or replace function ops.record_release_backup(release_id uuid, backup jsonb)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
begin
  if jsonb_typeof(backup) is distinct from 'object'
     or coalesce(backup->>'id', '') !~ '^[A-Za-z0-9_.:-]{1,100}$'
     or coalesce(backup->>'manifest_sha256', '') !~ '^[0-9a-f]{64}$' then
    raise exception 'Cannot record the backup of release %: expected an object with id and manifest_sha256', release_id
      using errcode = 'invalid_parameter_value';
  end if;
  update ops.releases as x set backup = record_release_backup.backup
  where x.id = release_id
  returning * into r;
  if r.id is null then
    raise exception 'Cannot record the backup of release %: no such release', release_id
      using errcode = 'no_data_found';
  end if;
  perform ops.append_audit('release.backup', 'release', r.id::text, backup, r.environment);
  return r;
end;
$$;

-- Records the revert scripts of the migrations a release pushes. Each script's SHA-256 must be
-- the SHA-256 of its text and, when the release carries a promotion whose plan lists the
-- migration, the one the approvers saw (`after.revert.sha256`). Recording the same again
-- changes nothing; another text for a recorded migration is refused.
create or replace function ops.record_release_reverts(release_id uuid, reverts jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
  v jsonb;
  planned jsonb;
  existing ops.release_reverts;
  n integer := 0;
begin
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null then
    raise exception 'Cannot record revert scripts: no release %', release_id
      using errcode = 'no_data_found';
  end if;
  if jsonb_typeof(reverts) is distinct from 'array' then
    raise exception 'Cannot record revert scripts of release %: expected an array', release_id
      using errcode = 'invalid_parameter_value';
  end if;
  for v in select e from jsonb_array_elements(reverts) as e loop
    if v->>'sql' is not null
       and encode(sha256(convert_to(v->>'sql', 'UTF8')), 'hex') is distinct from v->>'sha256' then
      raise exception 'Cannot record the revert of migration %: its SHA-256 is not that of its text', v->>'version'
        using errcode = 'check_violation';
    end if;
    select c->'after' into planned
    from ops.promotions as p, jsonb_array_elements(p.plan->'changes') as c
    where p.id = r.promotion_id and c->>'kind' = 'schema_migrations'
      and c->'after'->>'version' = v->>'version';
    if planned is not null and planned ? 'revert'
       and (planned->'revert'->>'sha256') is distinct from (v->>'sha256') then
      raise exception 'Cannot record the revert of migration %: it is not the revert script that was approved (plan %, given %)',
        v->>'version', coalesce(planned->'revert'->>'sha256', 'none'), coalesce(v->>'sha256', 'none')
        using errcode = 'check_violation';
    end if;
    select * into existing from ops.release_reverts as x
    where x.release_id = r.id and x.version = v->>'version';
    if existing.release_id is not null then
      if existing.sha256 is distinct from v->>'sha256' then
        raise exception 'Cannot record the revert of migration %: another script is recorded for release %', v->>'version', r.id
          using errcode = 'check_violation';
      end if;
      continue;
    end if;
    insert into ops.release_reverts (release_id, version, name, sql, sha256, loses_data, reason)
    values (r.id, v->>'version', v->>'name', v->>'sql', v->>'sha256',
            coalesce((v->>'loses_data')::boolean, false), v->>'reason');
    n := n + 1;
  end loop;
  if n > 0 then
    perform ops.append_audit('release.reverts_recorded', 'release', r.id::text,
      jsonb_build_object('migrations', (
        select jsonb_agg(jsonb_build_object('version', x.version, 'sha256', x.sha256,
                                            'loses_data', x.loses_data) order by x.version)
        from ops.release_reverts as x where x.release_id = r.id)), r.environment);
  end if;
  return n;
end;
$$;

-- Starts watching a release that applied: records the health queries of its commit, moves it
-- to `watching` and queues the `release.watch` job. A release already watched is returned.
create or replace function ops.start_release_watch(release_id uuid, health_queries jsonb)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
  s record;
  job ops.jobs;
begin
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null then
    raise exception 'Cannot watch release %: no such release', release_id
      using errcode = 'no_data_found';
  end if;
  if r.watch is not null then
    return r;
  end if;
  if r.status <> 'running' then
    raise exception 'Cannot watch release %: it is %', release_id, r.status
      using errcode = 'check_violation';
  end if;
  if jsonb_typeof(health_queries) is distinct from 'array' then
    raise exception 'Cannot watch release %: health queries must be an array', release_id
      using errcode = 'invalid_parameter_value';
  end if;
  select * into s from ops.release_watch_settings(r.environment);
  if coalesce(s.window_s, 0) <= 0 then
    raise exception 'Cannot watch release %: % has no watch window', release_id, r.environment
      using errcode = 'check_violation';
  end if;
  job := ops.create_job('release.watch', jsonb_build_object('release_id', r.id::text));
  update ops.releases as x
  set health_queries = start_release_watch.health_queries,
      watch = jsonb_build_object(
        'window_s', s.window_s, 'every_s', s.every_s, 'breach_after', s.breach_after,
        'started_at', now(), 'until', now() + make_interval(secs => s.window_s),
        'job_id', job.id, 'outcome', null),
      status = 'watching'
  where x.id = release_id
  returning * into r;
  perform ops.append_audit('release.watching', 'release', r.id::text,
    jsonb_build_object('watch', r.watch,
                       'health_queries', (select coalesce(jsonb_agg(q->>'name'), '[]'::jsonb)
                                          from jsonb_array_elements(health_queries) as q)),
    r.environment);
  return r;
end;
$$;

-- Records one sample of a watch; returns how many consecutive unhealthy samples end with it.
create or replace function ops.record_release_sample(release_id uuid, healthy boolean, metrics jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
  next_seq integer;
  streak integer;
begin
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null or r.status <> 'watching' then
    raise exception 'Cannot record a watch sample of release %: it is not being watched', release_id
      using errcode = 'check_violation';
  end if;
  select coalesce(max(seq), 0) + 1 into next_seq
  from ops.release_watch_samples as x where x.release_id = r.id;
  insert into ops.release_watch_samples (release_id, seq, healthy, metrics)
  values (r.id, next_seq, healthy, metrics);
  select next_seq - coalesce(max(seq), 0) into streak
  from ops.release_watch_samples as x where x.release_id = r.id and x.healthy;
  if not healthy then
    perform ops.append_audit('release.watch_unhealthy', 'release', r.id::text,
      jsonb_build_object('seq', next_seq, 'streak', streak,
        'breached', (select coalesce(jsonb_agg(m->>'name'), '[]'::jsonb)
                     from jsonb_array_elements(metrics) as m where m->>'healthy' = 'false')),
      r.environment);
  end if;
  return streak;
end;
$$;

-- Records (merges) what a rollback of the release did.
create or replace function ops.record_release_rollback(release_id uuid, rollback jsonb)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
begin
  if jsonb_typeof(rollback) is distinct from 'object' then
    raise exception 'Cannot record the rollback of release %: expected an object', release_id
      using errcode = 'invalid_parameter_value';
  end if;
  update ops.releases as x
  set rollback = coalesce(x.rollback, '{}'::jsonb) || record_release_rollback.rollback
  where x.id = release_id
  returning * into r;
  if r.id is null then
    raise exception 'Cannot record the rollback of release %: no such release', release_id
      using errcode = 'no_data_found';
  end if;
  perform ops.append_audit('release.rollback', 'release', r.id::text, rollback, r.environment);
  return r;
end;
$$;

-- Ends a watch: `passed` → succeeded; `rolled_back` → rolled_back; `needs_restore` (data rolled
-- back, a revert would lose data) and `rollback_failed` → failed. Each notifies.
create or replace function ops.finish_release_watch(release_id uuid, outcome text, detail jsonb default '{}')
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
begin
  if outcome not in ('passed', 'rolled_back', 'needs_restore', 'rollback_failed') then
    raise exception 'Cannot finish the watch of release %: outcome % is not passed, rolled_back, needs_restore or rollback_failed', release_id, outcome
      using errcode = 'invalid_parameter_value';
  end if;
  select * into r from ops.releases as x where x.id = release_id for update;
  if r.id is null or r.watch is null then
    raise exception 'Cannot finish the watch of release %: it was never watched', release_id
      using errcode = 'check_violation';
  end if;
  if r.watch->>'outcome' is not null then
    return r;
  end if;
  update ops.releases as x
  set watch = x.watch || jsonb_build_object('outcome', outcome, 'finished_at', now(),
                                            'detail', coalesce(detail, '{}'::jsonb))
  where x.id = release_id;
  return ops.set_release_status(release_id,
    case outcome when 'passed' then 'succeeded' when 'rolled_back' then 'rolled_back' else 'failed' end);
end;
$$;

comment on function ops.release_watch_settings(text) is
  'The watch window, sample interval (seconds) and breach count of an environment.';
comment on function ops.record_release_backup(uuid, jsonb) is
  'Records the verified backup a release took before changing anything (audited). Release CLI only.';
comment on function ops.record_release_reverts(uuid, jsonb) is
  'Records the revert scripts of the migrations a release pushes, checked against their text and the approved plan. Release CLI only.';
comment on function ops.start_release_watch(uuid, jsonb) is
  'Starts the watch of an applied release: health queries recorded, status watching, release.watch job queued. Release CLI only.';
comment on function ops.record_release_sample(uuid, boolean, jsonb) is
  'Records one watch sample; returns the streak of unhealthy samples. Release watch job only.';
comment on function ops.record_release_rollback(uuid, jsonb) is
  'Records what a release rollback did (audited). Release rollback and watch only.';
comment on function ops.finish_release_watch(uuid, text, jsonb) is
  'Ends a release watch with its outcome and moves the release to its final status (notifies).';

revoke all on function ops.release_watch_settings(text) from public, anon, authenticated, service_role;
revoke all on function ops.record_release_backup(uuid, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.record_release_reverts(uuid, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.start_release_watch(uuid, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.record_release_sample(uuid, boolean, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.record_release_rollback(uuid, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.finish_release_watch(uuid, text, jsonb) from public, anon, authenticated, service_role;
