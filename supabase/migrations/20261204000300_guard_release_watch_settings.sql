-- Intent: the watch after a release is part of an environment's safety policy. In an
-- environment that requires approval, shortening `watch_window`, sampling less often
-- (`watch_every`) or tolerating more unhealthy samples (`watch_breach_after`) weakens it, and is
-- refused like weakening the approvals — for admins through the API and for the database owner
-- alike — except under `ops.break_glass` (audited and announced). Strengthening stays free.
-- `ops.propose_policy_change` does not carry watch settings (yet): break glass is the way.

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
      or new.name is distinct from old.name
      -- The watch after a release (20261204000200): a shorter window, rarer samples or more
      -- unhealthy samples before a rollback weaken it. A null window is the kind's default.
      or coalesce(new.watch_window, case when new.kind = 'production' then interval '10 minutes'
                                          else interval '0' end)
         < coalesce(old.watch_window, case when old.kind = 'production' then interval '10 minutes'
                                            else interval '0' end)
      or new.watch_every > old.watch_every
      or new.watch_breach_after > old.watch_breach_after;
  end if;
  if weakens and (private.current_permit()).purpose is distinct from 'policy'
     and (private.current_permit()).purpose is distinct from 'break_glass' then
    raise exception 'Cannot weaken the approval policy of %: propose it (ops.propose_policy_change) and have another admin approve it; a weaker release watch only under ops.break_glass',
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
