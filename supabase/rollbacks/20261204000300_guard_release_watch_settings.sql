-- Reverts 20261204000300: the environment guard as 20261202000300 left it (the watch settings
-- no longer count as weakening the policy). Nothing is lost.

create or replace function ops.guard_environment_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  weakens boolean := false;
begin
  if tg_op in ('UPDATE', 'DELETE') and old.is_self and old.high_risk_approvals > 0 then
    weakens := tg_op = 'DELETE'
      or new.required_approvals < old.required_approvals
      or new.high_risk_approvals < old.high_risk_approvals
      or new.approval_expiry > old.approval_expiry
      or new.kind is distinct from old.kind
      or not new.is_self
      or new.name is distinct from old.name;
  end if;
  if weakens and (private.current_permit()).purpose is distinct from 'policy'
     and (private.current_permit()).purpose is distinct from 'break_glass' then
    raise exception 'Cannot weaken the approval policy of %: propose it (ops.propose_policy_change) and have another admin approve it',
      old.name
      using errcode = 'insufficient_privilege';
  end if;
  perform ops.append_audit(
    case tg_op when 'INSERT' then 'environment.added' when 'UPDATE' then 'environment.changed'
               else 'environment.removed' end,
    'environment',
    coalesce(new.name, old.name),
    jsonb_strip_nulls(jsonb_build_object(
      'before', case when tg_op <> 'INSERT' then to_jsonb(old) - 'created_at' - 'updated_at' end,
      'after', case when tg_op <> 'DELETE' then to_jsonb(new) - 'created_at' - 'updated_at' end
    )),
    coalesce(new.name, old.name)
  );
  return case when tg_op = 'DELETE' then old else new end;
end;
$$;
