-- Intent: the audit log is written by the system, not by callers, and the people and policy
-- behind approvals cannot change silently.
--
-- - `ops.append_audit` is no longer executable by API roles (`authenticated`, `service_role`):
--   only Stagecoach's own security-definer functions and triggers, and its service paths
--   running as the database owner, append entries. A viewer could forge `approval.approve`.
-- - Every change to `ops.members` and `ops.environments` appends an audit entry (who, what,
--   before and after) in the same transaction.
-- - In an environment that requires approval, its own policy cannot be weakened by one
--   person: lowering `required_approvals` or `high_risk_approvals`, lengthening
--   `approval_expiry`, changing `kind`, clearing `is_self` or deleting the row needs a policy
--   change proposed by one admin (`ops.propose_policy_change`) and approved by another
--   (`ops.approve_policy_change`), which then applies it under a write permit.

revoke execute on function ops.append_audit(text, text, text, jsonb, text) from authenticated, service_role;

-- Audits every change of a member's role.
create or replace function ops.audit_member_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.append_audit(
    case tg_op when 'INSERT' then 'member.added' when 'UPDATE' then 'member.changed' else 'member.removed' end,
    'member',
    coalesce(new.user_id, old.user_id)::text,
    jsonb_strip_nulls(jsonb_build_object(
      'email', (select u.email from auth.users as u where u.id = coalesce(new.user_id, old.user_id)),
      'role_before', case when tg_op <> 'INSERT' then old.role::text end,
      'role_after', case when tg_op <> 'DELETE' then new.role::text end
    )),
    ops.self_environment()
  );
  return null;
end;
$$;

revoke all on function ops.audit_member_change() from public, anon, authenticated, service_role;

create or replace trigger audit_member_change
  after insert or update or delete on ops.members
  for each row execute function ops.audit_member_change();

alter table private.promotion_writes drop constraint if exists promotion_writes_purpose_check;
alter table private.promotion_writes add constraint promotion_writes_purpose_check
  check (purpose in ('apply', 'rollback', 'break_glass', 'policy'));

-- Proposed changes to this environment's approval policy, decided by a second admin.
create table if not exists ops.policy_changes (
  id uuid primary key default gen_random_uuid(),
  environment text not null references ops.environments (name) on delete cascade,
  required_approvals integer not null check (required_approvals >= 0),
  high_risk_approvals integer not null,
  approval_expiry interval not null check (approval_expiry > interval '0'),
  status text not null default 'pending' check (status in ('pending', 'applied')),
  proposed_by uuid not null,
  proposed_at timestamptz not null default now(),
  approved_by uuid,
  applied_at timestamptz,
  constraint policy_changes_high_risk_needs_at_least_required
    check (high_risk_approvals >= required_approvals)
);

comment on table ops.policy_changes is
  'Approval-policy changes of this environment, proposed by one admin and applied when another approves.';

alter table ops.policy_changes enable row level security;

revoke all on table ops.policy_changes from public, anon, authenticated, service_role;
grant select on table ops.policy_changes to authenticated, service_role;

drop policy if exists "Ops members can read policy changes" on ops.policy_changes;
create policy "Ops members can read policy changes"
  on ops.policy_changes for select to authenticated
  using ((select ops.is_member()));

-- Proposes a new policy for this environment (admins). Returns the proposal's id.
create or replace function ops.propose_policy_change(
  required integer,
  high_risk integer,
  expiry interval default null
)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  env record;
  new_id uuid;
begin
  if not ops.has_role('admin') then
    raise exception 'Cannot propose a policy change: only admins may'
      using errcode = 'insufficient_privilege';
  end if;
  select * into env from ops.environments as e where e.is_self;
  if not found then
    raise exception 'Cannot propose a policy change: this database has no registered environment';
  end if;
  insert into ops.policy_changes (environment, required_approvals, high_risk_approvals,
                                  approval_expiry, proposed_by)
  values (env.name, required, high_risk, coalesce(expiry, env.approval_expiry), auth.uid())
  returning id into new_id;
  perform ops.append_audit('policy.proposed', 'policy_change', new_id::text,
    jsonb_build_object('required_approvals', required, 'high_risk_approvals', high_risk,
                       'approval_expiry', coalesce(expiry, env.approval_expiry)::text),
    env.name);
  return new_id;
end;
$$;

revoke all on function ops.propose_policy_change(integer, integer, interval) from public, anon, service_role;
grant execute on function ops.propose_policy_change(integer, integer, interval) to authenticated;

-- Approves and applies a proposal (another admin than the proposer).
create or replace function ops.approve_policy_change(change uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  pc record;
begin
  if not ops.has_role('admin') then
    raise exception 'Cannot approve a policy change: only admins may'
      using errcode = 'insufficient_privilege';
  end if;
  select * into pc from ops.policy_changes as c where c.id = change for update;
  if not found or pc.status <> 'pending' then
    raise exception 'Cannot approve policy change %: it is not pending', change
      using errcode = 'check_violation';
  end if;
  if pc.proposed_by = auth.uid() then
    raise exception 'Cannot approve policy change %: nobody approves their own proposal', change
      using errcode = 'insufficient_privilege';
  end if;
  insert into private.promotion_writes (xact, purpose, reason, opened_by)
  values (pg_catalog.pg_current_xact_id(), 'policy', 'policy change ' || change, auth.uid())
  on conflict (xact) do nothing;
  update ops.environments
     set required_approvals = pc.required_approvals,
         high_risk_approvals = pc.high_risk_approvals,
         approval_expiry = pc.approval_expiry
   where name = pc.environment;
  update ops.policy_changes
     set status = 'applied', approved_by = auth.uid(), applied_at = now()
   where id = change;
end;
$$;

revoke all on function ops.approve_policy_change(uuid) from public, anon, service_role;
grant execute on function ops.approve_policy_change(uuid) to authenticated;

-- Audits every environment change and refuses weakening a gated environment's own policy
-- outside an approved policy change. BEFORE, so a refusal writes nothing.
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

revoke all on function ops.guard_environment_change() from public, anon, authenticated, service_role;

create or replace trigger guard_environment_change
  before insert or update or delete on ops.environments
  for each row execute function ops.guard_environment_change();
