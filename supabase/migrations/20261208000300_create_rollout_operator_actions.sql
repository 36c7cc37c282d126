-- Intent: operators and admins pause, resume and abort a rollout through the `ops` API, as
-- themselves (issue 15), and the console shows only what they may do.
--
-- * `ops.operator_pause_rollout`, `ops.operator_resume_rollout`, `ops.operator_abort_rollout`
--   (rollout id, optional comment): security definer wrappers that check the caller's ops role
--   from the JWT claims (`ops.has_role`, as `ops.approve_policy_change` does) — operators and
--   admins only; viewers and approvers are refused (42501) — and then call the owner-only
--   `ops.halt_rollout` / `ops.resume_rollout` of 20261207000200, whose state rules stand. The
--   actor is recorded: the audit entries carry the caller (auth.uid(), ops role), and the
--   halt reason names them by email with their comment.
-- * `ops.rollout_actions(rollout id)`: what the caller may do with a rollout now — pause,
--   resume, abort — each `{ allowed, code, reason }` (`code`: `role` or `status`), by the same
--   rules; null for a rollout the caller cannot read or a caller without an ops role. It only
--   reports: the wrappers decide every request.

create or replace function private.rollout_operator_check(rollout_id uuid, action text, comment text)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not ops.has_role('operator', 'admin') then
    raise exception 'Cannot % rollout %: only operators and admins may', action, rollout_id
      using errcode = 'insufficient_privilege';
  end if;
  if comment is not null and length(comment) > 2000 then
    raise exception 'Cannot % rollout %: the comment is longer than 2000 characters', action, rollout_id
      using errcode = 'invalid_parameter_value';
  end if;
end;
$$;

revoke all on function private.rollout_operator_check(uuid, text, text)
  from public, anon, authenticated, service_role;

-- Who acts, as the halt reason and the audit details name them.
create or replace function private.rollout_operator(comment text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'by', coalesce(auth.email(), auth.uid()::text),
    'by_id', auth.uid(),
    'by_role', ops.caller_role()::text,
    'comment', nullif(comment, '')
  ));
$$;

revoke all on function private.rollout_operator(text) from public, anon, authenticated, service_role;

create or replace function ops.operator_pause_rollout(rollout_id uuid, comment text default null)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.rollout_operator_check(rollout_id, 'pause', comment);
  return ops.halt_rollout(rollout_id, 'pause', private.rollout_operator(comment));
end;
$$;

create or replace function ops.operator_abort_rollout(rollout_id uuid, comment text default null)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.rollout_operator_check(rollout_id, 'abort', comment);
  return ops.halt_rollout(rollout_id, 'abort', private.rollout_operator(comment));
end;
$$;

create or replace function ops.operator_resume_rollout(rollout_id uuid, comment text default null)
returns ops.flag_rollouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  who jsonb;
  r ops.flag_rollouts;
  new_job uuid;
begin
  perform private.rollout_operator_check(rollout_id, 'resume', comment);
  who := private.rollout_operator(comment);
  -- A pause canceled the rollout's job, and `ops.create_job` would take this caller for a
  -- member queueing an owner-only kind. The job is queued here instead, as the owner's own
  -- step of this checked resume (`created_via` owner, `created_by` the caller), and
  -- `ops.resume_rollout` carries it on; nothing else can reach this insert.
  select * into r from ops.flag_rollouts as x where x.id = operator_resume_rollout.rollout_id for update;
  if r.status = 'paused' and not exists (
    select 1 from ops.jobs as j where j.id = r.job_id and j.status in ('queued', 'running')
  ) then
    insert into ops.jobs (kind, params, executor, created_by, created_via)
    values ('flag.rollout', jsonb_build_object('rollout_id', r.id::text), 'worker', auth.uid(), 'owner')
    returning id into new_job;
    update ops.flag_rollouts as x set job_id = new_job where x.id = r.id;
  end if;
  r := ops.resume_rollout(rollout_id, who->>'by');
  if who ? 'comment' then
    perform ops.append_audit('rollout.commented', 'rollout', r.id::text,
      jsonb_build_object('flag', r.flag_key, 'action', 'resume') || who, r.environment);
  end if;
  return r;
end;
$$;

create or replace function ops.rollout_actions(rollout_id uuid)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  r record;
  caller ops.member_role := ops.caller_role();
  may boolean;
begin
  select x.status into r from ops.flag_rollouts as x where x.id = rollout_actions.rollout_id;
  if not found or caller is null then
    return null;
  end if;
  may := caller in ('operator', 'admin');
  return jsonb_build_object(
    'pause', case
      when not may then jsonb_build_object('allowed', false, 'code', 'role',
        'reason', 'only operators and admins pause')
      when r.status <> 'running' then jsonb_build_object('allowed', false, 'code', 'status',
        'reason', format('it is %s, not running', r.status))
      else jsonb_build_object('allowed', true, 'code', null, 'reason', null) end,
    'resume', case
      when not may then jsonb_build_object('allowed', false, 'code', 'role',
        'reason', 'only operators and admins resume')
      when r.status <> 'paused' then jsonb_build_object('allowed', false, 'code', 'status',
        'reason', format('it is %s, not paused', r.status))
      else jsonb_build_object('allowed', true, 'code', null, 'reason', null) end,
    'abort', case
      when not may then jsonb_build_object('allowed', false, 'code', 'role',
        'reason', 'only operators and admins abort')
      when r.status not in ('running', 'paused') then jsonb_build_object('allowed', false,
        'code', 'status', 'reason', format('it is %s, not running or paused', r.status))
      else jsonb_build_object('allowed', true, 'code', null, 'reason', null) end
  );
end;
$$;

comment on function ops.operator_pause_rollout(uuid, text) is
  'Pauses a running rollout as the caller: operators and admins only; audited with the actor.';
comment on function ops.operator_resume_rollout(uuid, text) is
  'Resumes a paused rollout as the caller: operators and admins only; audited with the actor.';
comment on function ops.operator_abort_rollout(uuid, text) is
  'Aborts a rollout (flag back to 0 %) as the caller: operators and admins only; audited with the actor.';
comment on function ops.rollout_actions(uuid) is
  'What the caller may do with a rollout now (pause, resume, abort), with the reason when not; the wrappers still decide.';

revoke all on function ops.operator_pause_rollout(uuid, text) from public, anon, service_role;
revoke all on function ops.operator_resume_rollout(uuid, text) from public, anon, service_role;
revoke all on function ops.operator_abort_rollout(uuid, text) from public, anon, service_role;
revoke all on function ops.rollout_actions(uuid) from public, anon;
grant execute on function ops.operator_pause_rollout(uuid, text) to authenticated;
grant execute on function ops.operator_resume_rollout(uuid, text) to authenticated;
grant execute on function ops.operator_abort_rollout(uuid, text) to authenticated;
grant execute on function ops.rollout_actions(uuid) to authenticated, service_role;
