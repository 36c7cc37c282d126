-- Intent: a promotion is what it claims. Approvers read `plan`; approvals bind to
-- `plan_hash`; apply re-plans and compares hashes. Until now the database stored whatever
-- hash, risk and counts the inserter sent, so a crafted row could show approvers one plan and
-- carry the hash of another (and take a low risk, i.e. fewer approvals, for a high-risk plan).
--
-- Now:
-- - Promotions are created only through `ops.create_promotion(plan_text, source_bundle, id)`:
--   it hashes the exact text it is given (SHA-256, as the planner does over its canonical
--   JSON) and stores that text's parse as `plan`, so `plan_hash` is always the hash of what
--   approvers see. API roles lose INSERT on ops.promotions.
-- - The insert trigger derives source, target, scope, options, risk and change count from the
--   plan itself (risk is high when any change is high) and refuses a row whose hash was not
--   computed by `ops.create_promotion` in this transaction.
-- - A promotion becomes `approved` from `awaiting_approval` only with enough recorded
--   approvals, whoever asks (the service role and `postgres` included).

create or replace function ops.create_promotion(
  plan_text text,
  source_bundle text default null,
  requested_id uuid default null
)
returns ops.promotions
language plpgsql
security definer
set search_path = ''
as $$
declare
  plan jsonb;
  hash text;
  created ops.promotions;
begin
  if not (ops.has_role('operator', 'admin') or (auth.role() is null and auth.uid() is null)) then
    raise exception 'Cannot plan a promotion: only operators and admins may'
      using errcode = 'insufficient_privilege';
  end if;
  begin
    plan := plan_text::jsonb;
  exception when others then
    raise exception 'Cannot plan a promotion: the plan is not JSON'
      using errcode = 'invalid_parameter_value';
  end;
  if jsonb_typeof(plan) <> 'object' or plan->>'format' is distinct from 'stagecoach.plan'
     or plan->'version' is distinct from '1'::jsonb
     or jsonb_typeof(plan->'changes') <> 'array' or jsonb_typeof(plan->'scope') <> 'array'
     or jsonb_typeof(plan->'options') <> 'object' then
    raise exception 'Cannot plan a promotion: not a stagecoach.plan of version 1'
      using errcode = 'invalid_parameter_value';
  end if;
  hash := encode(extensions.digest(convert_to(plan_text, 'UTF8'), 'sha256'), 'hex');
  perform set_config('stagecoach.verified_plan_hash', hash, true);
  insert into ops.promotions as p (id, source_env, target_env, scope, options, plan, plan_hash,
                                   risk, change_count, source_bundle)
  values (coalesce(requested_id, gen_random_uuid()), plan->>'source', plan->>'target',
          array(select jsonb_array_elements_text(plan->'scope')), plan->'options', plan, hash,
          'low', 1, to_jsonb(source_bundle))
  returning * into created;
  perform set_config('stagecoach.verified_plan_hash', '', true);
  return created;
end;
$$;

comment on function ops.create_promotion(text, text, uuid) is
  'The one way to record a promotion: hashes the plan text it stores; risk and counts come from the plan. Operators and admins.';

revoke all on function ops.create_promotion(text, text, uuid) from public, anon, service_role;
grant execute on function ops.create_promotion(text, text, uuid) to authenticated;

revoke insert on table ops.promotions from authenticated, service_role;

-- BEFORE INSERT: the database, not the caller, decides who created it, what the plan says
-- about itself, how many approvals it needs and where it starts.
create or replace function ops.prepare_promotion()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  env record;
begin
  if new.plan_hash is distinct from nullif(current_setting('stagecoach.verified_plan_hash', true), '') then
    raise exception 'Cannot plan promotion: record it with ops.create_promotion, which hashes the plan itself'
      using errcode = 'insufficient_privilege';
  end if;
  if new.source_env is distinct from new.plan->>'source'
     or new.target_env is distinct from new.plan->>'target'
     or new.scope is distinct from array(select jsonb_array_elements_text(new.plan->'scope'))
     or new.options is distinct from new.plan->'options' then
    raise exception 'Cannot plan promotion: source, target, scope and options must be the plan''s'
      using errcode = 'check_violation';
  end if;
  select * into env from ops.environments as e where e.name = new.target_env;
  if not found then
    raise exception 'Cannot plan promotion: environment % is not registered', new.target_env;
  end if;
  new.change_count := jsonb_array_length(new.plan->'changes');
  new.risk := case
    when exists (select 1 from jsonb_array_elements(new.plan->'changes') as c
                 where c->>'risk' is distinct from 'low') then 'high'
    else 'low'
  end;
  if new.plan->>'risk' is distinct from new.risk then
    raise exception 'Cannot plan promotion: the plan says risk %, its changes say %',
      coalesce(new.plan->>'risk', 'nothing'), new.risk
      using errcode = 'check_violation';
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

-- BEFORE UPDATE (runs after ops.guard_promotion_update, by name): approval needs approvals.
create or replace function ops.require_recorded_approvals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  approvals integer;
begin
  if old.status = 'awaiting_approval' and new.status = 'approved' then
    select count(*) into approvals
      from ops.approvals as a
     where a.promotion_id = new.id and a.decision = 'approve' and a.plan_hash = new.plan_hash;
    if approvals < new.required_approvals then
      raise exception 'Cannot approve promotion %: % of % approvals recorded',
        new.id, approvals, new.required_approvals
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  return new;
end;
$$;

revoke all on function ops.require_recorded_approvals() from public, anon, authenticated, service_role;

create or replace trigger require_recorded_approvals
  before update of status on ops.promotions
  for each row execute function ops.require_recorded_approvals();
