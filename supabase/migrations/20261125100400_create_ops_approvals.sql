-- Intent: approvals and rejections of a promotion, bound to the exact plan they reviewed.
--
-- Held in the database for every role (a trigger, so even the service role cannot bypass
-- them): only approvers and admins decide; nobody decides on their own promotion; the
-- decision names the plan hash it approved, which must be the promotion's; only a promotion
-- awaiting approval can be decided; one decision per person. When enough approvals are in,
-- the promotion becomes approved; one rejection rejects it.

create table if not exists ops.approvals (
  id uuid primary key default gen_random_uuid(),
  promotion_id uuid not null references ops.promotions (id) on delete cascade,
  approver_id uuid not null default auth.uid() references auth.users (id),
  decision text not null check (decision in ('approve', 'reject')),
  plan_hash text not null check (plan_hash ~ '^[0-9a-f]{64}$'),
  comment text check (length(comment) <= 2000),
  created_at timestamptz not null default now(),
  constraint approvals_one_decision_per_person unique (promotion_id, approver_id)
);

comment on table ops.approvals is
  'Approve/reject decisions on promotions, each bound to the plan hash the approver reviewed.';

create index if not exists approvals_approver_id_idx on ops.approvals (approver_id);

alter table ops.approvals enable row level security;

revoke all on table ops.approvals from public, anon;
grant select, insert on table ops.approvals to authenticated;
grant select, insert, delete on table ops.approvals to service_role;

create or replace function ops.check_approval()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  p record;
  approver_role ops.member_role;
begin
  if auth.uid() is not null and new.approver_id is distinct from auth.uid() then
    raise exception 'Cannot record a decision for someone else'
      using errcode = 'insufficient_privilege';
  end if;
  select * into p from ops.promotions as pr where pr.id = new.promotion_id for update;
  if not found then
    raise exception 'Cannot decide on promotion %: it does not exist', new.promotion_id;
  end if;
  select m.role into approver_role from ops.members as m where m.user_id = new.approver_id;
  if approver_role is null or approver_role not in ('approver', 'admin') then
    raise exception 'Cannot % promotion %: only approvers and admins may (caller is %)',
      new.decision, p.id, coalesce(approver_role::text, 'not an ops member')
      using errcode = 'insufficient_privilege';
  end if;
  if p.created_by = new.approver_id then
    raise exception 'Cannot % promotion %: nobody decides on their own promotion', new.decision, p.id
      using errcode = 'insufficient_privilege';
  end if;
  if p.status <> 'awaiting_approval' then
    raise exception 'Cannot % promotion %: it is %, not awaiting approval', new.decision, p.id, p.status
      using errcode = 'check_violation';
  end if;
  if new.plan_hash <> p.plan_hash then
    raise exception 'Cannot % promotion %: plan hash % is not the plan''s (%); review the current plan',
      new.decision, p.id, left(new.plan_hash, 12), left(p.plan_hash, 12)
      using errcode = 'check_violation';
  end if;
  new.created_at := now();
  return new;
end;
$$;

revoke all on function ops.check_approval() from public;

create or replace trigger check_approval
  before insert on ops.approvals
  for each row execute function ops.check_approval();

create or replace function ops.apply_decision()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  approvals integer;
  needed integer;
  caller_claims text := current_setting('request.jwt.claims', true);
begin
  perform ops.append_audit('approval.' || new.decision, 'promotion', new.promotion_id::text,
                           jsonb_build_object('plan_hash', new.plan_hash, 'comment', new.comment),
                           (select p.target_env from ops.promotions as p where p.id = new.promotion_id));
  -- The transitions below are the database's own: make them without the caller's claims,
  -- then give the claims back for the rest of the caller's transaction.
  perform set_config('request.jwt.claims', '', true);
  if new.decision = 'reject' then
    update ops.promotions set status = 'rejected' where id = new.promotion_id;
  else
    select count(*) into approvals from ops.approvals as a
    where a.promotion_id = new.promotion_id and a.decision = 'approve';
    select p.required_approvals into needed from ops.promotions as p where p.id = new.promotion_id;
    if approvals >= needed then
      update ops.promotions set status = 'approved' where id = new.promotion_id;
    end if;
  end if;
  perform set_config('request.jwt.claims', coalesce(caller_claims, ''), true);
  return null;
end;
$$;

revoke all on function ops.apply_decision() from public;

create or replace trigger apply_decision
  after insert on ops.approvals
  for each row execute function ops.apply_decision();

-- The decisions made so far and still needed, for `promote show`.
drop policy if exists "Ops members can read approvals" on ops.approvals;
create policy "Ops members can read approvals"
  on ops.approvals for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Approvers and admins can decide as themselves" on ops.approvals;
create policy "Approvers and admins can decide as themselves"
  on ops.approvals for insert to authenticated
  with check (
    approver_id = (select auth.uid())
    and (select ops.has_role('approver', 'admin'))
  );
