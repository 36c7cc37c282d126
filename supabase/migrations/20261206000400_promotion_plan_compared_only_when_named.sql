-- Intent: a status change no longer reads the plan. The guard compared `new.plan` with
-- `old.plan` on every update of a promotion, which decompresses and compares the whole plan
-- twice (megabytes for a large promotion) at each transition (approved → applying →
-- succeeded). The plan is now compared only by a trigger that fires when an UPDATE names the
-- `plan` column (`before update of plan`), with the same refusal; every other column is still
-- compared by the guard. Nothing else changes: which updates are refused, and with which
-- error, is as before.

create or replace function ops.guard_promotion_update()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  from_status text := old.status::text;
  to_status text := new.status::text;
  caller ops.member_role := ops.caller_role();
  is_system boolean := auth.uid() is null and coalesce(auth.role(), 'service_role') = 'service_role';
  env_kind text;
begin
  if new.id is distinct from old.id
     or new.source_env is distinct from old.source_env
     or new.target_env is distinct from old.target_env
     or new.scope is distinct from old.scope
     or new.options is distinct from old.options
     or new.plan_hash is distinct from old.plan_hash
     or new.risk is distinct from old.risk
     or new.change_count is distinct from old.change_count
     or new.required_approvals is distinct from old.required_approvals
     or new.source_bundle is distinct from old.source_bundle
     or new.created_by is distinct from old.created_by
     or new.created_at is distinct from old.created_at then
    raise exception 'Cannot change promotion %: a plan is immutable once made (re-plan instead)', old.id
      using errcode = 'check_violation';
  end if;

  -- The record columns are the database's: people may not move a deadline or rewrite who
  -- applied; the transitions below stamp them. (Postgres and the service role may, e.g. to
  -- expire promotions in a test or repair.)
  if not is_system and from_status <> to_status then
    -- In a transition the stamps below are the database's: whatever the caller sent is ignored.
    new.expires_at := old.expires_at;
    new.applied_by := old.applied_by;
    new.applied_at := old.applied_at;
    new.finished_at := old.finished_at;
    new.rolled_back_by := old.rolled_back_by;
    new.rolled_back_at := old.rolled_back_at;
  elsif not is_system and (
    new.expires_at is distinct from old.expires_at
    or new.applied_by is distinct from old.applied_by
    or new.applied_at is distinct from old.applied_at
    or new.finished_at is distinct from old.finished_at
    or new.rolled_back_by is distinct from old.rolled_back_by
    or new.rolled_back_at is distinct from old.rolled_back_at
  ) then
    raise exception 'Cannot change promotion %: its deadline and who-did-what columns are set by the database', old.id
      using errcode = 'insufficient_privilege';
  end if;

  if from_status <> to_status then
    if not (
      (from_status = 'awaiting_approval' and to_status in ('approved', 'rejected', 'expired'))
      or (from_status = 'approved' and to_status in ('applying', 'expired'))
      or (from_status = 'applying' and to_status in ('succeeded', 'failed'))
      or (from_status = 'succeeded' and to_status = 'rolled_back')
    ) then
      raise exception 'Cannot move promotion % from % to %', old.id, from_status, to_status
        using errcode = 'check_violation';
    end if;

    if to_status in ('approved', 'rejected', 'expired') and from_status = 'awaiting_approval' then
      -- Decided by the approvals trigger and the expiry job only.
      if not is_system then
        raise exception 'Cannot mark promotion % %: record an approval instead', old.id, to_status
          using errcode = 'insufficient_privilege';
      end if;
    elsif to_status in ('applying', 'succeeded', 'failed') then
      if not (is_system or caller in ('operator', 'admin')) then
        raise exception 'Cannot apply promotion %: only operators and admins may', old.id
          using errcode = 'insufficient_privilege';
      end if;
      if to_status = 'applying' then
        new.applied_by := auth.uid();
        new.applied_at := now();
      else
        new.finished_at := now();
      end if;
    elsif to_status = 'rolled_back' then
      select e.kind into env_kind from ops.environments as e where e.name = old.target_env;
      if not (is_system
              or (env_kind = 'production' and caller in ('approver', 'admin'))
              or (env_kind <> 'production' and caller in ('operator', 'approver', 'admin'))) then
        raise exception 'Cannot roll back promotion %: % requires %', old.id, old.target_env,
          case when env_kind = 'production' then 'an approver or admin' else 'an ops member who may apply' end
          using errcode = 'insufficient_privilege';
      end if;
      new.rolled_back_by := auth.uid();
      new.rolled_back_at := now();
    elsif to_status = 'expired' and not is_system then
      raise exception 'Cannot expire promotion %: only the expiry job does', old.id
        using errcode = 'insufficient_privilege';
    end if;
  elsif not is_system and new.failure is distinct from old.failure then
    raise exception 'Cannot change promotion %: failure reasons are set with a transition', old.id;
  end if;

  new.updated_at := now();
  return new;
end;
$$;

create or replace function ops.refuse_plan_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  raise exception 'Cannot change promotion %: a plan is immutable once made (re-plan instead)', old.id
    using errcode = 'check_violation';
end;
$$;

comment on function ops.refuse_plan_change() is
  'BEFORE UPDATE OF plan on ops.promotions: a plan is immutable once made.';

revoke all on function ops.refuse_plan_change() from public, anon, authenticated, service_role;

create trigger refuse_plan_change
  before update of plan on ops.promotions
  for each row
  when (new.plan is distinct from old.plan)
  execute function ops.refuse_plan_change();
