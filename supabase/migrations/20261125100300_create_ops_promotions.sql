-- Intent: a promotion — one reviewed plan moving config, tiers and flags from a source
-- environment (or a config bundle) into this database — and its lifecycle:
--   planned → awaiting_approval → approved → applying → succeeded | failed
--   plus rejected, expired (from awaiting_approval) and rolled_back (from succeeded).
--
-- The rules live here, not only in TypeScript: the number of approvals is derived from this
-- environment's policy and the plan's risk at insert; only legal transitions happen, each by
-- a role allowed to make it; the plan, its hash and its scope never change after insert; and
-- every transition is appended to the hash-chained audit log in the same transaction.

do $$
begin
  create type ops.promotion_status as enum (
    'planned', 'awaiting_approval', 'approved', 'applying', 'succeeded', 'failed',
    'rejected', 'expired', 'rolled_back'
  );
exception
  when duplicate_object then null;
end;
$$;

create table if not exists ops.promotions (
  id uuid primary key default gen_random_uuid(),
  -- An environment name, or 'bundle' for a config bundle import.
  source_env text not null check (source_env ~ '^[a-z][a-z0-9_-]{0,62}$'),
  target_env text not null references ops.environments (name),
  scope text[] not null
    check (cardinality(scope) > 0 and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users']),
  options jsonb not null default '{}'::jsonb,
  plan jsonb not null,
  plan_hash text not null check (plan_hash ~ '^[0-9a-f]{64}$'),
  risk text not null check (risk in ('low', 'high')),
  change_count integer not null check (change_count > 0),
  required_approvals integer not null default 0 check (required_approvals >= 0),
  status ops.promotion_status not null default 'planned',
  -- For bundle imports: the bundle as given (secret entries stay encrypted under the
  -- operator's transfer key, which is never stored).
  source_bundle jsonb,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expires_at timestamptz,
  applied_by uuid references auth.users (id) on delete set null,
  applied_at timestamptz,
  finished_at timestamptz,
  rolled_back_by uuid references auth.users (id) on delete set null,
  rolled_back_at timestamptz,
  -- Why it failed (validation results, errors); never secrets.
  failure jsonb
);

comment on table ops.promotions is
  'Stagecoach promotions into this environment: the plan, its hash, risk, approvals needed and status.';

create index if not exists promotions_target_status_idx on ops.promotions (target_env, status);
create index if not exists promotions_created_by_idx on ops.promotions (created_by);
create index if not exists promotions_applied_by_idx on ops.promotions (applied_by);
create index if not exists promotions_rolled_back_by_idx on ops.promotions (rolled_back_by);

alter table ops.promotions enable row level security;

revoke all on table ops.promotions from public, anon;
grant select, insert, update on table ops.promotions to authenticated;
grant select, insert, update, delete on table ops.promotions to service_role;

-- Approvals a plan of this risk needs in this environment.
create or replace function ops.required_approvals(target text, plan_risk text)
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select case when plan_risk = 'high' then e.high_risk_approvals else e.required_approvals end
  from ops.environments as e
  where e.name = target;
$$;

revoke all on function ops.required_approvals(text, text) from public, anon;
grant execute on function ops.required_approvals(text, text) to authenticated, service_role;

-- BEFORE INSERT: the database, not the caller, decides who created it, how many approvals it
-- needs and where it starts.
create or replace function ops.prepare_promotion()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  env record;
begin
  select * into env from ops.environments as e where e.name = new.target_env;
  if not found then
    raise exception 'Cannot plan promotion: environment % is not registered', new.target_env;
  end if;
  new.created_by := coalesce(auth.uid(), new.created_by);
  new.created_at := now();
  new.updated_at := now();
  new.required_approvals := ops.required_approvals(new.target_env, new.risk);
  new.applied_by := null;
  new.applied_at := null;
  new.finished_at := null;
  new.rolled_back_by := null;
  new.rolled_back_at := null;
  new.failure := null;
  if new.required_approvals = 0 then
    new.status := 'approved';
    new.expires_at := null;
  else
    new.status := 'awaiting_approval';
    new.expires_at := now() + env.approval_expiry;
  end if;
  return new;
end;
$$;

revoke all on function ops.prepare_promotion() from public;

create or replace trigger prepare_promotion
  before insert on ops.promotions
  for each row execute function ops.prepare_promotion();

-- BEFORE UPDATE: immutable plan, legal transitions, each by a role allowed to make it.
-- "System" callers (postgres / service_role, e.g. pg_cron and the approvals trigger) may make
-- the transitions approvals and expiry need; people act through their ops role.
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
     or new.plan is distinct from old.plan
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

revoke all on function ops.guard_promotion_update() from public;

create or replace trigger guard_promotion_update
  before update on ops.promotions
  for each row execute function ops.guard_promotion_update();

-- AFTER INSERT / status change: one audit entry per transition, in the same transaction.
create or replace function ops.audit_promotion_transition()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  base jsonb := jsonb_build_object(
    'source', new.source_env, 'target', new.target_env, 'scope', to_jsonb(new.scope),
    'risk', new.risk, 'plan_hash', new.plan_hash, 'change_count', new.change_count,
    'required_approvals', new.required_approvals
  );
begin
  if tg_op = 'INSERT' then
    perform ops.append_audit('promotion.planned', 'promotion', new.id::text, base, new.target_env);
    perform ops.append_audit('promotion.' || new.status::text, 'promotion', new.id::text,
                             base || jsonb_build_object('from', 'planned'), new.target_env);
  elsif new.status is distinct from old.status then
    perform ops.append_audit('promotion.' || new.status::text, 'promotion', new.id::text,
                             base || jsonb_build_object('from', old.status::text)
                               || case when new.failure is not null
                                       then jsonb_build_object('failure', new.failure)
                                       else '{}'::jsonb end,
                             new.target_env);
  end if;
  return null;
end;
$$;

revoke all on function ops.audit_promotion_transition() from public;

create or replace trigger audit_promotion_transition
  after insert or update of status on ops.promotions
  for each row execute function ops.audit_promotion_transition();

drop policy if exists "Ops members can read promotions" on ops.promotions;
create policy "Ops members can read promotions"
  on ops.promotions for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Operators and admins can plan promotions" on ops.promotions;
create policy "Operators and admins can plan promotions"
  on ops.promotions for insert to authenticated
  with check ((select ops.has_role('operator', 'admin')));

drop policy if exists "Operators, approvers and admins can move promotions along" on ops.promotions;
create policy "Operators, approvers and admins can move promotions along"
  on ops.promotions for update to authenticated
  using ((select ops.has_role('operator', 'approver', 'admin')))
  with check ((select ops.has_role('operator', 'approver', 'admin')));
