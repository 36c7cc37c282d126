-- Intent: rollout plans of a feature flag in this environment (issue 14, part 4). A rollout
-- raises `public.feature_flags.rollout_percent` in stages (`stages`: percentages, strictly
-- rising; `every_s`: the minimum time of each stage), gated between stages by health samples —
-- the release watch's measures (`supabase/health/*.sql` of the starting commit, functions, the
-- Stripe ledger, the validation checks) plus per-flag health queries, recorded on the rollout.
--
-- * Kept in the database so it survives the CLI dying: a `flag.rollout` job (ops.jobs, run by
--   the CLI and by the ops-worker that pg_cron calls) samples into `ops.flag_rollout_samples`
--   and advances through `ops.advance_rollout`, which refuses before `next_advance_at` or
--   without a healthy sample taken in the current stage.
-- * A breach (`breach_after` consecutive unhealthy samples, the environment's
--   `watch_breach_after`) pauses the rollout or returns the flag to 0 % (`on_breach`), is
--   audited and notified (`rollout.paused` / `rollout.rolled_back`); completion notifies too.
-- * The percentage is written under the write gate of 20261202000000 with a permit of purpose
--   `rollout`, opened only by `private.write_rollout_percent` (owner only, called by the
--   functions below); every write is audited by the gate's own trigger and here.
-- * Where this environment requires approval, starting a rollout needs an approved promotion of
--   scope `rollout` (20261207000210) whose one `flag_rollout` change names exactly this plan —
--   the existing approvals, bound to the plan hash. One approval starts one rollout.
-- * Rollout state is this environment's alone: nothing here is a promotable kind, and
--   `rollout_percent` stays environment-specific state that never crosses in a promotion.
--
-- Written only through the functions below (the CLI's and the ops-worker's database owner
-- connection); ops members read.

alter table private.promotion_writes drop constraint if exists promotion_writes_purpose_check;
alter table private.promotion_writes add constraint promotion_writes_purpose_check
  check (purpose in ('apply', 'rollback', 'break_glass', 'policy', 'rollout'));

create table if not exists ops.flag_rollouts (
  id uuid primary key default gen_random_uuid(),
  flag_key text not null references public.feature_flags (key) on delete cascade,
  environment text not null,
  -- Percentages of the stages, strictly rising, 1..100.
  stages integer[] not null
    check (cardinality(stages) between 1 and 20 and 0 < all (stages) and 100 >= all (stages)),
  -- The minimum time of each stage, in seconds.
  every_s integer not null check (every_s between 1 and 604800),
  -- Seconds between two health samples, and consecutive unhealthy samples that breach.
  sample_every_s integer not null check (sample_every_s between 1 and 604800),
  breach_after integer not null check (breach_after between 1 and 100),
  on_breach text not null check (on_breach in ('pause', 'rollback')),
  -- [{ name, sql, sha256, threshold, direction }]: the safety net's and the flag's own queries.
  health_queries jsonb not null default '[]' check (jsonb_typeof(health_queries) = 'array'),
  status text not null default 'running'
    check (status in ('running', 'paused', 'completed', 'rolled_back', 'aborted')),
  -- 0-based index into `stages` of the stage the flag is at.
  stage_index integer not null default 0 check (stage_index >= 0),
  percent integer not null check (percent between 0 and 100),
  -- The flag's percentage before the rollout.
  from_percent integer not null check (from_percent between 0 and 100),
  stage_started_at timestamptz not null default now(),
  next_advance_at timestamptz,
  -- Samples with `seq` at or below this do not count towards a breach (set on resume).
  streak_from integer not null default 0,
  job_id uuid,
  promotion_id uuid unique references ops.promotions (id) on delete set null,
  started_by text not null check (length(started_by) between 1 and 200),
  -- Why it stopped: the breach (unhealthy samples) or who paused or aborted it.
  halted jsonb check (halted is null or jsonb_typeof(halted) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);

comment on table ops.flag_rollouts is
  'Rollout plans of feature flags in this environment: stages, health gates, state. Never promoted.';

create unique index if not exists flag_rollouts_one_active
  on ops.flag_rollouts (flag_key) where status in ('running', 'paused');

create table if not exists ops.flag_rollout_samples (
  rollout_id uuid not null references ops.flag_rollouts (id) on delete cascade,
  seq integer not null check (seq >= 1),
  taken_at timestamptz not null default now(),
  percent integer not null check (percent between 0 and 100),
  healthy boolean not null,
  -- [{ name, value, threshold, direction, healthy, detail? }]
  metrics jsonb not null check (jsonb_typeof(metrics) = 'array'),
  primary key (rollout_id, seq)
);

comment on table ops.flag_rollout_samples is
  'Health samples of a rollout: each metric with its value, threshold and direction, at the percentage of the moment.';

alter table ops.flag_rollouts enable row level security;
alter table ops.flag_rollout_samples enable row level security;

revoke all on table ops.flag_rollouts from public, anon, authenticated, service_role;
revoke all on table ops.flag_rollout_samples from public, anon, authenticated, service_role;
grant select on table ops.flag_rollouts to authenticated;
grant select on table ops.flag_rollout_samples to authenticated;

drop policy if exists "Ops members can read rollouts" on ops.flag_rollouts;
create policy "Ops members can read rollouts"
  on ops.flag_rollouts for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Ops members can read rollout samples" on ops.flag_rollout_samples;
create policy "Ops members can read rollout samples"
  on ops.flag_rollout_samples for select to authenticated
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
    'release.waiting_approval', 'release.succeeded', 'release.failed', 'release.rolled_back',
    'rollout.started', 'rollout.paused', 'rollout.rolled_back', 'rollout.completed',
    'rollout.aborted'
  ];
$$;

-- Writes a rollout's percentage into the flag, under a write permit of purpose `rollout` that
-- lasts this one statement: the permit is removed again, so nothing else written later in the
-- caller's transaction passes the gate under the rollout's name.
create or replace function private.write_rollout_percent(rollout ops.flag_rollouts, percent integer)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  opened boolean;
begin
  insert into private.promotion_writes (xact, promotion_id, purpose, reason)
  values (pg_catalog.pg_current_xact_id(), rollout.promotion_id, 'rollout',
          format('rollout %s of %s: %s %%', rollout.id, rollout.flag_key, percent))
  on conflict (xact) do nothing
  returning true into opened;
  update public.feature_flags as f
  set rollout_percent = write_rollout_percent.percent
  where f.key = rollout.flag_key and f.rollout_percent is distinct from write_rollout_percent.percent;
  if opened then
    delete from private.promotion_writes as w
    where w.xact = pg_catalog.pg_current_xact_id() and w.purpose = 'rollout';
  end if;
  perform ops.append_audit('rollout.percent', 'rollout', rollout.id::text,
    jsonb_build_object('flag', rollout.flag_key, 'percent', percent), rollout.environment);
end;
$$;

revoke all on function private.write_rollout_percent(ops.flag_rollouts, integer)
  from public, anon, authenticated, service_role;

-- Queues a rollout's notification for the endpoints of its environment that asked for it.
create or replace function private.notify_rollout(rollout ops.flag_rollouts, event_type text)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
  select gen_random_uuid(), e.id, event_type,
         jsonb_build_object(
           'type', event_type,
           'timestamp', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', jsonb_build_object(
             'rollout_id', rollout.id,
             'environment', rollout.environment,
             'flag_key', rollout.flag_key,
             'status', rollout.status,
             'percent', rollout.percent,
             'stages', to_jsonb(rollout.stages),
             'stage_index', rollout.stage_index,
             'on_breach', rollout.on_breach,
             'started_by', rollout.started_by,
             'promotion_id', rollout.promotion_id
           ) || jsonb_strip_nulls(jsonb_build_object('halted', rollout.halted))
         )
  from ops.notification_endpoints as e
  where e.environment = rollout.environment and e.enabled
    and ('*' = any (e.events) or event_type = any (e.events));
$$;

revoke all on function private.notify_rollout(ops.flag_rollouts, text)
  from public, anon, authenticated, service_role;

-- The plan a rollout promotion approves: what `ops.start_rollout` compares its change with.
create or replace function ops.rollout_plan(
  flag_key text, stages integer[], every_s integer, on_breach text, health_queries jsonb
)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'flag', flag_key,
    'stages', to_jsonb(stages),
    'every_s', every_s,
    'on_breach', on_breach,
    'health', coalesce((select jsonb_agg(jsonb_build_object('name', q->>'name', 'sha256', q->>'sha256')
                                         order by q->>'name')
                        from jsonb_array_elements(health_queries) as q), '[]'::jsonb)
  );
$$;

-- Starts a rollout of a flag: the first stage at once, a `flag.rollout` job queued.
create or replace function ops.start_rollout(
  flag_key text,
  stages integer[],
  every_s integer,
  on_breach text,
  health_queries jsonb,
  started_by text,
  promotion_id uuid default null
)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  flag public.feature_flags;
  env ops.environments;
  p record;
  planned jsonb;
  wanted jsonb;
  r ops.flag_rollouts;
  job ops.jobs;
begin
  select * into flag from public.feature_flags as f where f.key = start_rollout.flag_key;
  if flag.key is null then
    raise exception 'Cannot start a rollout of %: no such flag', flag_key
      using errcode = 'no_data_found';
  end if;
  if stages is null or cardinality(stages) not between 1 and 20 then
    raise exception 'Cannot start a rollout of %: give 1 to 20 stages', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  for i in 1 .. cardinality(stages) loop
    if stages[i] is null or stages[i] not between 1 and 100
       or (i > 1 and stages[i] <= stages[i - 1]) then
      raise exception 'Cannot start a rollout of %: stages must rise strictly within 1..100 (got %)',
        flag_key, array_to_string(stages, ',')
        using errcode = 'invalid_parameter_value';
    end if;
  end loop;
  if stages[1] < flag.rollout_percent then
    raise exception 'Cannot start a rollout of %: it is at % %%, and a first stage of % %% would take users out (stages only add users)',
      flag_key, flag.rollout_percent, stages[1]
      using errcode = 'invalid_parameter_value';
  end if;
  if every_s is null or every_s not between 1 and 604800 then
    raise exception 'Cannot start a rollout of %: the time per stage must be 1 s to 7 days', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  if on_breach is null or on_breach not in ('pause', 'rollback') then
    raise exception 'Cannot start a rollout of %: on breach must be pause or rollback', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(health_queries) is distinct from 'array' then
    raise exception 'Cannot start a rollout of %: health queries must be an array', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  -- Each query as `release/health.ts` reads it; its SHA-256 is that of its text, so the approved
  -- names and hashes bind the SQL the samples run.
  if exists (
    select 1 from jsonb_array_elements(health_queries) as q
    where jsonb_typeof(q) is distinct from 'object'
       or coalesce(q->>'name', '') !~ '^[a-z0-9][a-z0-9_-]{0,80}$'
       or jsonb_typeof(q->'sql') is distinct from 'string'
       or jsonb_typeof(q->'threshold') is distinct from 'number'
       or coalesce(q->>'direction', '') not in ('above', 'below')
       or encode(sha256(convert_to(q->>'sql', 'UTF8')), 'hex') is distinct from q->>'sha256'
  ) or (select count(distinct q->>'name') <> count(*) from jsonb_array_elements(health_queries) as q)
  then
    raise exception 'Cannot start a rollout of %: each health query needs a unique name, its sql, a threshold, a direction and the SHA-256 of its sql', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  if started_by is null or length(started_by) not between 1 and 200 then
    raise exception 'Cannot start a rollout of %: name who starts it', flag_key
      using errcode = 'invalid_parameter_value';
  end if;
  if exists (select 1 from ops.flag_rollouts as x
             where x.flag_key = start_rollout.flag_key and x.status in ('running', 'paused')) then
    raise exception 'Cannot start a rollout of %: one is already running or paused (resume or abort it)',
      flag_key
      using errcode = 'unique_violation';
  end if;
  select * into env from ops.environments as e where e.is_self;
  if ops.writes_need_approval() then
    if promotion_id is null then
      raise exception 'Cannot start a rollout of % in %: its policy requires approval; plan it (rollout start … --plan) and pass --promotion <id> once approved',
        flag_key, env.name
        using errcode = 'insufficient_privilege';
    end if;
    select pr.status::text as status, pr.target_env, pr.scope, pr.plan,
           coalesce(pr.expires_at <= now(), false) as expired
      into p
      from ops.promotions as pr where pr.id = start_rollout.promotion_id;
    if p.status is null then
      raise exception 'Cannot start a rollout with promotion %: no such promotion', promotion_id
        using errcode = 'insufficient_privilege';
    end if;
    if p.status <> 'approved' or p.expired then
      raise exception 'Cannot start a rollout with promotion %: it is %, not approved',
        promotion_id, case when p.expired then 'expired' else p.status end
        using errcode = 'insufficient_privilege';
    end if;
    if p.target_env <> env.name or not ('rollout' = any (p.scope)) then
      raise exception 'Cannot start a rollout with promotion %: it is not a rollout promotion for %',
        promotion_id, env.name
        using errcode = 'insufficient_privilege';
    end if;
    if exists (select 1 from ops.flag_rollouts as x where x.promotion_id = start_rollout.promotion_id) then
      raise exception 'Cannot start a rollout with promotion %: it already started one', promotion_id
        using errcode = 'insufficient_privilege';
    end if;
    select c->'after' into planned
    from jsonb_array_elements(p.plan->'changes') as c
    where c->>'kind' = 'flag_rollout' and c->>'key' = start_rollout.flag_key;
    wanted := ops.rollout_plan(flag_key, stages, every_s, on_breach, health_queries);
    if planned is distinct from wanted then
      raise exception 'Cannot start a rollout with promotion %: it approved %, not %',
        promotion_id, coalesce(planned::text, 'no rollout of this flag'), wanted::text
        using errcode = 'insufficient_privilege';
    end if;
  end if;

  insert into ops.flag_rollouts as x (
    flag_key, environment, stages, every_s, sample_every_s, breach_after, on_breach,
    health_queries, percent, from_percent, stage_started_at, next_advance_at, promotion_id,
    started_by)
  values (
    start_rollout.flag_key, coalesce(env.name, 'unregistered'), start_rollout.stages,
    start_rollout.every_s,
    least(start_rollout.every_s,
          greatest(1, ceil(extract(epoch from coalesce(env.watch_every, interval '30 seconds')))::integer)),
    coalesce(env.watch_breach_after, 3), start_rollout.on_breach, start_rollout.health_queries,
    start_rollout.stages[1], flag.rollout_percent, now(),
    now() + make_interval(secs => start_rollout.every_s), start_rollout.promotion_id,
    start_rollout.started_by)
  returning * into r;
  job := ops.create_job('flag.rollout', jsonb_build_object('rollout_id', r.id::text));
  update ops.flag_rollouts as x set job_id = job.id where x.id = r.id returning * into r;
  perform private.write_rollout_percent(r, r.percent);
  perform ops.append_audit('rollout.started', 'rollout', r.id::text,
    jsonb_build_object('flag', r.flag_key, 'stages', to_jsonb(r.stages), 'every_s', r.every_s,
      'on_breach', r.on_breach, 'from_percent', r.from_percent, 'promotion_id', r.promotion_id,
      'started_by', r.started_by,
      'health_queries', (select coalesce(jsonb_agg(q->>'name'), '[]'::jsonb)
                         from jsonb_array_elements(r.health_queries) as q)),
    r.environment);
  perform private.notify_rollout(r, 'rollout.started');
  return r;
end;
$$;

-- Records one health sample of a running rollout; returns how many consecutive unhealthy
-- samples (since the last resume) end with it.
create or replace function ops.record_rollout_sample(rollout_id uuid, healthy boolean, metrics jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.flag_rollouts;
  next_seq integer;
  streak integer;
begin
  select * into r from ops.flag_rollouts as x where x.id = rollout_id for update;
  if r.id is null or r.status <> 'running' then
    raise exception 'Cannot record a sample of rollout %: it is not running', rollout_id
      using errcode = 'check_violation';
  end if;
  if jsonb_typeof(metrics) is distinct from 'array' or healthy is null then
    raise exception 'Cannot record a sample of rollout %: expected healthy and an array of metrics', rollout_id
      using errcode = 'invalid_parameter_value';
  end if;
  select coalesce(max(seq), 0) + 1 into next_seq
  from ops.flag_rollout_samples as x where x.rollout_id = r.id;
  insert into ops.flag_rollout_samples (rollout_id, seq, percent, healthy, metrics)
  values (r.id, next_seq, r.percent, healthy, metrics);
  select next_seq - greatest(coalesce(max(seq), 0), r.streak_from) into streak
  from ops.flag_rollout_samples as x where x.rollout_id = r.id and x.healthy;
  if not healthy then
    perform ops.append_audit('rollout.unhealthy', 'rollout', r.id::text,
      jsonb_build_object('flag', r.flag_key, 'seq', next_seq, 'streak', streak, 'percent', r.percent,
        'breached', (select coalesce(jsonb_agg(m->>'name'), '[]'::jsonb)
                     from jsonb_array_elements(metrics) as m where m->>'healthy' = 'false')),
      r.environment);
  end if;
  return streak;
end;
$$;

-- Raises a running rollout to its next stage, or completes it after its last stage. Refused
-- before `next_advance_at`, or unless the newest sample was taken in this stage and healthy.
create or replace function ops.advance_rollout(rollout_id uuid)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.flag_rollouts;
  last_sample ops.flag_rollout_samples;
begin
  select * into r from ops.flag_rollouts as x where x.id = rollout_id for update;
  if r.id is null or r.status <> 'running' then
    raise exception 'Cannot advance rollout %: it is not running', rollout_id
      using errcode = 'check_violation';
  end if;
  if now() < r.next_advance_at then
    raise exception 'Cannot advance rollout %: its stage lasts until %', rollout_id, r.next_advance_at
      using errcode = 'check_violation';
  end if;
  select * into last_sample from ops.flag_rollout_samples as s
  where s.rollout_id = r.id order by s.seq desc limit 1;
  if last_sample.seq is null or last_sample.seq <= r.streak_from
     or last_sample.taken_at < r.stage_started_at or not last_sample.healthy then
    raise exception 'Cannot advance rollout %: no healthy sample was taken in its current stage', rollout_id
      using errcode = 'check_violation';
  end if;
  if r.stage_index + 1 >= cardinality(r.stages) then
    update ops.flag_rollouts as x
    set status = 'completed', next_advance_at = null, finished_at = now(), updated_at = now()
    where x.id = r.id returning * into r;
    perform ops.append_audit('rollout.completed', 'rollout', r.id::text,
      jsonb_build_object('flag', r.flag_key, 'percent', r.percent), r.environment);
    perform private.notify_rollout(r, 'rollout.completed');
    return r;
  end if;
  update ops.flag_rollouts as x
  set stage_index = x.stage_index + 1,
      percent = x.stages[x.stage_index + 2],
      stage_started_at = now(),
      next_advance_at = now() + make_interval(secs => x.every_s),
      updated_at = now()
  where x.id = r.id returning * into r;
  perform private.write_rollout_percent(r, r.percent);
  perform ops.append_audit('rollout.advanced', 'rollout', r.id::text,
    jsonb_build_object('flag', r.flag_key, 'stage', r.stage_index + 1, 'percent', r.percent),
    r.environment);
  return r;
end;
$$;

-- Stops a rollout: `pause` (kept at its percentage; resumable), `rollback` (the flag back to
-- 0 %), or `abort` (the flag back to 0 %, ended by a person). `detail` says why (the breach's
-- samples, or who). Audited and notified; its job, when waiting, is canceled.
create or replace function ops.halt_rollout(rollout_id uuid, action text, detail jsonb default '{}')
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.flag_rollouts;
  new_status text;
begin
  if action is null or action not in ('pause', 'rollback', 'abort') then
    raise exception 'Cannot halt rollout %: action must be pause, rollback or abort', rollout_id
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(detail) is distinct from 'object' then
    raise exception 'Cannot halt rollout %: detail must be an object', rollout_id
      using errcode = 'invalid_parameter_value';
  end if;
  select * into r from ops.flag_rollouts as x where x.id = rollout_id for update;
  if r.id is null then
    raise exception 'Cannot halt rollout %: no such rollout', rollout_id
      using errcode = 'no_data_found';
  end if;
  new_status := case action when 'pause' then 'paused' when 'rollback' then 'rolled_back'
                            else 'aborted' end;
  if r.status = new_status then
    return r;
  end if;
  if r.status not in ('running', 'paused') or (action = 'pause' and r.status <> 'running') then
    raise exception 'Cannot % rollout %: it is %', action, rollout_id, r.status
      using errcode = 'check_violation';
  end if;
  update ops.flag_rollouts as x
  set status = new_status,
      percent = case when action = 'pause' then x.percent else 0 end,
      next_advance_at = null,
      halted = detail || jsonb_build_object('action', action, 'at', now(), 'percent', x.percent),
      finished_at = case when action = 'pause' then null else now() end,
      updated_at = now()
  where x.id = r.id returning * into r;
  if action <> 'pause' then
    perform private.write_rollout_percent(r, 0);
  end if;
  -- A job waiting for its next turn is canceled; one running (e.g. the step that found the
  -- breach) sees the rollout halted and ends by itself.
  update ops.jobs as j set status = 'canceled'
  where j.id = r.job_id and j.status = 'queued';
  perform ops.append_audit('rollout.' || new_status, 'rollout', r.id::text,
    jsonb_build_object('flag', r.flag_key, 'percent', r.percent, 'halted', r.halted),
    r.environment);
  perform private.notify_rollout(r, 'rollout.' || new_status);
  return r;
end;
$$;

-- Resumes a paused rollout at its current stage: the stage's time starts again, earlier
-- unhealthy samples no longer count, and its job runs again (or a new one is queued).
create or replace function ops.resume_rollout(rollout_id uuid, resumed_by text)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.flag_rollouts;
  job ops.jobs;
begin
  select * into r from ops.flag_rollouts as x where x.id = rollout_id for update;
  if r.id is null then
    raise exception 'Cannot resume rollout %: no such rollout', rollout_id
      using errcode = 'no_data_found';
  end if;
  if r.status = 'running' then
    return r;
  end if;
  if r.status <> 'paused' then
    raise exception 'Cannot resume rollout %: it is %', rollout_id, r.status
      using errcode = 'check_violation';
  end if;
  -- The rollout's job, if it has not ended yet, carries on (due now); otherwise a new one.
  update ops.jobs as j set run_after = now()
  where j.id = r.job_id and j.status in ('queued', 'running')
  returning * into job;
  if job.id is null then
    job := ops.create_job('flag.rollout', jsonb_build_object('rollout_id', r.id::text));
  end if;
  update ops.flag_rollouts as x
  set status = 'running', stage_started_at = now(),
      next_advance_at = now() + make_interval(secs => x.every_s),
      streak_from = coalesce((select max(s.seq) from ops.flag_rollout_samples as s
                              where s.rollout_id = x.id), 0),
      job_id = job.id, halted = null, updated_at = now()
  where x.id = r.id returning * into r;
  perform ops.append_audit('rollout.resumed', 'rollout', r.id::text,
    jsonb_build_object('flag', r.flag_key, 'percent', r.percent, 'by', resumed_by), r.environment);
  return r;
end;
$$;

comment on function ops.rollout_plan(text, integer[], integer, text, jsonb) is
  'The change a rollout promotion approves (flag, stages, every_s, on_breach, health query names and SHA-256).';
comment on function ops.start_rollout(text, integer[], integer, text, jsonb, text, uuid) is
  'Starts a rollout of a flag (first stage at once, flag.rollout job queued); in a gated environment only with an approved rollout promotion naming this plan. Owner only.';
comment on function ops.record_rollout_sample(uuid, boolean, jsonb) is
  'Records a health sample of a running rollout; returns the streak of unhealthy samples. Rollout job only.';
comment on function ops.advance_rollout(uuid) is
  'Raises a rollout to its next stage (or completes it) once its stage time passed with a healthy sample. Rollout job only.';
comment on function ops.halt_rollout(uuid, text, jsonb) is
  'Pauses a rollout, or returns its flag to 0 % (rollback, abort); audited and notified. Owner only.';
comment on function ops.resume_rollout(uuid, text) is
  'Resumes a paused rollout at its stage (its job carries on, or a new one is queued). Owner only.';

revoke all on function ops.rollout_plan(text, integer[], integer, text, jsonb) from public, anon;
grant execute on function ops.rollout_plan(text, integer[], integer, text, jsonb) to authenticated, service_role;
revoke all on function ops.start_rollout(text, integer[], integer, text, jsonb, text, uuid) from public, anon, authenticated, service_role;
revoke all on function ops.record_rollout_sample(uuid, boolean, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.advance_rollout(uuid) from public, anon, authenticated, service_role;
revoke all on function ops.halt_rollout(uuid, text, jsonb) from public, anon, authenticated, service_role;
revoke all on function ops.resume_rollout(uuid, text) from public, anon, authenticated, service_role;
