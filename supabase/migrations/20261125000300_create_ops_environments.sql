-- Intent: `ops.environments`, the approval policy of each environment Stagecoach knows.
--
-- The stack upserts the database's own row after every push:
--   insert into ops.environments (name, kind, functions_url) values (...)
--   on conflict (name) do update set functions_url = excluded.functions_url;
-- Approval settings left out of an INSERT are filled from `ops.default_policy(kind)`
-- (development and staging: no approval; production: 1 approval, 2 for high-risk plans).
-- An upsert never resets a policy an admin has tuned, because only functions_url is updated.

create or replace function ops.default_policy(kind text)
returns table (required_approvals integer, high_risk_approvals integer, approval_expiry interval)
language sql
immutable
set search_path = ''
as $$
  select
    case kind when 'production' then 1 else 0 end,
    case kind when 'production' then 2 else 0 end,
    interval '24 hours';
$$;

comment on function ops.default_policy(text) is
  'Default approval policy of an environment kind: (required_approvals, high_risk_approvals, approval_expiry).';

revoke all on function ops.default_policy(text) from public;
grant execute on function ops.default_policy(text) to authenticated, service_role;

create table if not exists ops.environments (
  name text primary key check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  kind text not null check (kind in ('development', 'staging', 'production')),
  -- e.g. https://<ref>.supabase.co/functions/v1 (locally http://127.0.0.1:54321/functions/v1)
  functions_url text check (functions_url ~ '^https?://'),
  -- Approvals needed for a low/medium-risk plan, and for a high-risk plan.
  required_approvals integer not null check (required_approvals >= 0),
  high_risk_approvals integer not null,
  -- An approval older than this no longer counts.
  approval_expiry interval not null check (approval_expiry > interval '0'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint environments_high_risk_needs_at_least_required
    check (high_risk_approvals >= required_approvals)
);

comment on table ops.environments is
  'Each environment Stagecoach knows and its approval policy; the database''s own row is upserted by the stack.';

alter table ops.environments enable row level security;

revoke all on table ops.environments from public, anon;
grant select, insert, update, delete on table ops.environments to authenticated, service_role;

-- Fills approval settings the INSERT left null from the kind's default policy. No column
-- defaults on purpose: a default would hide whether the writer chose the value.
create or replace function ops.fill_environment_policy()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  policy record;
begin
  select * into policy from ops.default_policy(new.kind);
  new.required_approvals := coalesce(new.required_approvals, policy.required_approvals);
  new.high_risk_approvals := coalesce(new.high_risk_approvals, policy.high_risk_approvals);
  new.approval_expiry := coalesce(new.approval_expiry, policy.approval_expiry);
  return new;
end;
$$;

revoke all on function ops.fill_environment_policy() from public;

create or replace trigger fill_environment_policy
  before insert on ops.environments
  for each row execute function ops.fill_environment_policy();

create or replace trigger set_updated_at
  before update on ops.environments
  for each row execute function private.set_updated_at();

drop policy if exists "Ops members can read environments" on ops.environments;
create policy "Ops members can read environments"
  on ops.environments for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Admins can add environments" on ops.environments;
create policy "Admins can add environments"
  on ops.environments for insert to authenticated
  with check ((select ops.has_role('admin')));

drop policy if exists "Admins can change environments" on ops.environments;
create policy "Admins can change environments"
  on ops.environments for update to authenticated
  using ((select ops.has_role('admin')))
  with check ((select ops.has_role('admin')));

drop policy if exists "Admins can remove environments" on ops.environments;
create policy "Admins can remove environments"
  on ops.environments for delete to authenticated
  using ((select ops.has_role('admin')));
