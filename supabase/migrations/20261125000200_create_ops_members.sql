-- Intent: Stagecoach's own schema `ops`, the roles people hold in it (`ops.member_role`),
-- the membership table `ops.members`, and the helper functions every other policy uses to
-- ask "what may the caller do?" (`ops.caller_role()`, `ops.has_role(...)`, `ops.is_member()`).
--
-- Roles are not a ladder: an approver approves plans, an operator runs them, an admin may do
-- both and manage members; a viewer only reads. Policies therefore list the roles they allow.
-- `ops` is not exposed through the Data API; the `ops` Edge Function reaches it over SQL as
-- the caller (role `authenticated` plus `request.jwt.claims`), so these policies decide.
-- The first admin is inserted by the stack as `postgres` (there is no API path to become one).

create schema if not exists ops;

comment on schema ops is 'Stagecoach: promotions, approvals, audit trail, worker state.';

revoke all on schema ops from public;
grant usage on schema ops to authenticated, service_role;

do $$
begin
  create type ops.member_role as enum ('viewer', 'operator', 'approver', 'admin');
exception
  when duplicate_object then null;
end;
$$;

comment on type ops.member_role is
  'viewer reads; operator plans and applies; approver approves or rejects plans; admin does all and manages members.';

create table if not exists ops.members (
  user_id uuid primary key references auth.users (id) on delete cascade,
  role ops.member_role not null,
  created_at timestamptz not null default now(),
  -- Who granted the role; not a foreign key so the record survives that user's deletion.
  created_by uuid default auth.uid()
);

comment on table ops.members is 'People who may use Stagecoach in this environment, and their role.';

alter table ops.members enable row level security;

revoke all on table ops.members from public, anon;
grant select, insert, update, delete on table ops.members to authenticated, service_role;

-- The caller's ops role, or null when the caller is not a member (or has no JWT subject).
-- Security definer so policies on ops.members itself can call it without recursing into RLS.
create or replace function ops.caller_role()
returns ops.member_role
language sql
stable
security definer
set search_path = ''
as $$
  select m.role
  from ops.members as m
  where m.user_id = (select auth.uid());
$$;

comment on function ops.caller_role() is
  'The ops role of the JWT subject (auth.uid()), or null when not a member.';

-- True when the caller holds one of the given roles: ops.has_role('operator', 'admin').
create or replace function ops.has_role(variadic roles ops.member_role[])
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(ops.caller_role() = any (roles), false);
$$;

comment on function ops.has_role(ops.member_role[]) is
  'True when the caller holds one of the given ops roles.';

-- True when the caller holds any ops role (viewer and above).
create or replace function ops.is_member()
returns boolean
language sql
stable
set search_path = ''
as $$
  select ops.caller_role() is not null;
$$;

comment on function ops.is_member() is 'True when the caller holds any ops role.';

revoke all on function ops.caller_role() from public;
revoke all on function ops.has_role(ops.member_role[]) from public;
revoke all on function ops.is_member() from public;
grant execute on function ops.caller_role() to authenticated, service_role;
grant execute on function ops.has_role(ops.member_role[]) to authenticated, service_role;
grant execute on function ops.is_member() to authenticated, service_role;

-- One permissive policy per action (splinter: multiple_permissive_policies).
drop policy if exists "Members can read their own row and admins can read every row"
  on ops.members;
create policy "Members can read their own row and admins can read every row"
  on ops.members for select to authenticated
  using (user_id = (select auth.uid()) or (select ops.has_role('admin')));

drop policy if exists "Admins can add members" on ops.members;
create policy "Admins can add members"
  on ops.members for insert to authenticated
  with check ((select ops.has_role('admin')));

drop policy if exists "Admins can change member roles" on ops.members;
create policy "Admins can change member roles"
  on ops.members for update to authenticated
  using ((select ops.has_role('admin')))
  with check ((select ops.has_role('admin')));

drop policy if exists "Admins can remove members" on ops.members;
create policy "Admins can remove members"
  on ops.members for delete to authenticated
  using ((select ops.has_role('admin')));
