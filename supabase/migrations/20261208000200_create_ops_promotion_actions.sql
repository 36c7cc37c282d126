-- Intent: `ops.promotion_actions(promotion_id)`, what the caller may do with a promotion right
-- now — decide (approve or reject), apply, roll back — each with the reason when not, so the
-- console offers only what the database would accept. The rules are the ones the guards
-- enforce (`ops.check_approval`, `ops.guard_promotion_update`): this function only reports
-- them; the guards still decide every write.
--
-- Runs as the caller (security invoker): a promotion the caller cannot read is null, and so
-- is any caller without an ops role. Each action is `{ "allowed": bool, "code": text|null,
-- "reason": text|null }`; `code` is `role` (the caller's role never may), `status` (not in a
-- state that allows it), `own` (nobody decides on their own promotion), `decided` (one
-- decision per person) or `expired`.

create or replace function ops.promotion_actions(promotion_id uuid)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  p record;
  caller ops.member_role := ops.caller_role();
  env_kind text;
  decide_code text;
  decide_reason text;
  apply_code text;
  apply_reason text;
  rollback_code text;
  rollback_reason text;
begin
  select pr.id, pr.status::text as status, pr.created_by, pr.expires_at, pr.target_env
    into p
    from ops.promotions as pr
    where pr.id = promotion_actions.promotion_id;
  if not found or caller is null then
    return null;
  end if;
  select e.kind::text into env_kind from ops.environments as e where e.name = p.target_env;

  if caller not in ('approver', 'admin') then
    decide_code := 'role';
    decide_reason := 'only approvers and admins decide';
  elsif p.status <> 'awaiting_approval' then
    decide_code := 'status';
    decide_reason := format('it is %s, not awaiting approval', p.status);
  elsif p.created_by = (select auth.uid()) then
    decide_code := 'own';
    decide_reason := 'nobody decides on their own promotion';
  elsif exists (select 1 from ops.approvals as a
                where a.promotion_id = p.id and a.approver_id = (select auth.uid())) then
    decide_code := 'decided';
    decide_reason := 'you have decided already (one decision per person)';
  elsif p.expires_at is not null and p.expires_at < now() then
    decide_code := 'expired';
    decide_reason := 'it expired; plan again';
  end if;

  if caller not in ('operator', 'admin') then
    apply_code := 'role';
    apply_reason := 'only operators and admins apply';
  elsif p.status <> 'approved' then
    apply_code := 'status';
    apply_reason := format('it is %s, not approved', p.status);
  elsif p.expires_at is not null and p.expires_at < now() then
    apply_code := 'expired';
    apply_reason := 'the approval expired; plan again';
  end if;

  if not ((env_kind = 'production' and caller in ('approver', 'admin'))
          or (env_kind is distinct from 'production' and caller in ('operator', 'approver', 'admin'))) then
    rollback_code := 'role';
    rollback_reason := case when env_kind = 'production'
      then 'in production only approvers and admins roll back'
      else 'only ops members who may apply roll back' end;
  elsif p.status <> 'succeeded' then
    rollback_code := 'status';
    rollback_reason := format('it is %s, not succeeded', p.status);
  end if;

  return jsonb_build_object(
    'decide', jsonb_build_object('allowed', decide_code is null, 'code', decide_code, 'reason', decide_reason),
    'apply', jsonb_build_object('allowed', apply_code is null, 'code', apply_code, 'reason', apply_reason),
    'rollback', jsonb_build_object('allowed', rollback_code is null, 'code', rollback_code, 'reason', rollback_reason)
  );
end;
$$;

comment on function ops.promotion_actions(uuid) is
  'What the caller may do with a promotion now (decide, apply, roll back), with the reason when not; the guards still decide every write.';

revoke all on function ops.promotion_actions(uuid) from public, anon;
grant execute on function ops.promotion_actions(uuid) to authenticated, service_role;
