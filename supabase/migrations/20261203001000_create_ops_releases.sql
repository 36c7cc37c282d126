-- Intent: `ops.releases`, one row per release into this environment (`stagecoach release`):
-- which git commit, from which source, who or what started it, the promotion it carries, each
-- step with its status, timings and a short summary, and the final status. A release is
-- identified by (source, commit): running `release` again for the same commit continues after
-- the last finished step, and a finished release run again changes nothing.
--
-- Written only by the release CLI through the functions below, over the environment's database
-- connection (the connection that also pushes migrations: `postgres`); never by API callers.
-- Every transition leaves an audit entry, and the outcomes a person should know of notify
-- (`release.waiting_approval`, `release.succeeded`, `release.failed`). Ops members read.
--
-- Also: promotions may carry scope `schema` (the migrations pending in the target, part of the
-- plan hash; see `_shared/promotion/schema.ts`).

alter table ops.promotions drop constraint if exists promotions_scope_check;
alter table ops.promotions add constraint promotions_scope_check
  check (cardinality(scope) > 0
         and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users', 'schema']);

create table if not exists ops.releases (
  id uuid primary key default gen_random_uuid(),
  environment text not null check (environment ~ '^[a-z][a-z0-9_-]{0,62}$'),
  source_env text not null check (source_env ~ '^[a-z][a-z0-9_-]{0,62}$'),
  git_sha text not null check (git_sha ~ '^[0-9a-f]{7,64}$'),
  -- A person ("user:<email>") or an automation ("github:<repo>#<run id>"), as the CLI saw it.
  started_by text not null check (length(started_by) between 1 and 300),
  promotion_id uuid references ops.promotions (id),
  status text not null default 'running'
    check (status in ('running', 'waiting_approval', 'succeeded', 'failed', 'nothing_to_release')),
  -- [{ name, status, started_at, finished_at, ms, summary }] in the order the steps ran.
  steps jsonb not null default '[]' check (jsonb_typeof(steps) = 'array'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint releases_one_per_commit unique (environment, source_env, git_sha)
);

comment on table ops.releases is
  'Releases into this environment (stagecoach release): commit, source, starter, promotion, steps with timings and summaries, final status.';

create index if not exists releases_created_idx on ops.releases (created_at desc);

alter table ops.releases enable row level security;

revoke all on table ops.releases from public, anon, authenticated, service_role;
grant select on table ops.releases to authenticated;

create or replace trigger set_updated_at
  before update on ops.releases
  for each row execute function private.set_updated_at();

drop policy if exists "Ops members can read releases" on ops.releases;
create policy "Ops members can read releases"
  on ops.releases for select to authenticated
  using ((select ops.is_member()));

-- Release events an endpoint may subscribe to, beside the promotion and security ones.
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

-- Starts the release of a commit, or returns the one that exists (re-runs continue it).
create or replace function ops.start_release(
  environment text,
  source_env text,
  git_sha text,
  started_by text
)
returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.releases;
begin
  insert into ops.releases as x (environment, source_env, git_sha, started_by)
  values (environment, source_env, lower(git_sha), started_by)
  on conflict on constraint releases_one_per_commit do nothing
  returning * into r;
  if r.id is not null then
    perform ops.append_audit('release.started', 'release', r.id::text,
      jsonb_build_object('source_env', r.source_env, 'git_sha', r.git_sha,
                         'started_by', r.started_by), r.environment);
    return r;
  end if;
  select * into r from ops.releases as x
  where x.environment = start_release.environment and x.source_env = start_release.source_env
    and x.git_sha = lower(start_release.git_sha);
  return r;
end;
$$;

-- Records one step's status (and the promotion, once there is one). A step is kept once,
-- by name: running it again updates it in place.
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

-- Sets a release's status; a terminal or waiting one notifies the endpoints that asked for it.
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

comment on function ops.start_release(text, text, text, text) is
  'Starts the release of a commit into this environment, or returns the existing one. Release CLI only.';
comment on function ops.record_release_step(uuid, text, text, text, uuid) is
  'Records the status, timing and summary of one release step (audited). Release CLI only.';
comment on function ops.set_release_status(uuid, text) is
  'Moves a release to a new status (audited; waiting, success and failure notify). Release CLI only.';

revoke all on function ops.start_release(text, text, text, text)
  from public, anon, authenticated, service_role;
revoke all on function ops.record_release_step(uuid, text, text, text, uuid)
  from public, anon, authenticated, service_role;
revoke all on function ops.set_release_status(uuid, text)
  from public, anon, authenticated, service_role;
