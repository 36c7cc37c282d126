-- Intent: in an environment whose policy requires approval, the rows Stagecoach promotes
-- (config including secrets, tiers, features, prices, flags) change only inside the apply or
-- rollback of an approved promotion, for every role — `authenticated` through the Data API,
-- `service_role`, and `postgres` (the SQL editor, a careless script) alike — and every such
-- change is in the audit log.
--
-- How:
-- - `ops.environments.is_self` marks the row that describes this database (the stack and the
--   release registration set it). `ops.writes_need_approval()` is true when that row's policy
--   asks for an approval for some plan (`high_risk_approvals > 0`). Without a registered
--   row, nothing is gated (a fresh project; promotions cannot target it either).
-- - A write permit is a row of `private.promotion_writes` keyed by the current transaction id
--   (`pg_current_xact_id()`): transaction-local by construction, and unforgeable because only
--   `ops.open_promotion_writes(promotion)` (apply and rollback, run by the connection's owner
--   right after the caller's own status transition) and `ops.break_glass(reason)` (the
--   database owner, audited) can insert it. No API role may execute either.
-- - `private.gate_promotable_write()` runs BEFORE each INSERT/UPDATE/DELETE/TRUNCATE statement
--   on a gated table and refuses without a permit; `private.audit_promotable_write()` runs
--   AFTER each statement and appends one audit entry naming the table, the operation, the
--   number of rows and the promotion (or break-glass reason).
-- - `private.gate_table(regclass)` attaches both to a table: later kinds (releases, rollouts)
--   call it in their own migrations.
--
-- Development (no approval needed) stays editable and unaudited row by row, as before.

alter table ops.environments add column if not exists is_self boolean not null default false;

comment on column ops.environments.is_self is
  'True on the one row that describes this database; its policy decides whether promotable rows are gated.';

create unique index if not exists environments_one_self on ops.environments (is_self) where is_self;

-- An existing installation knows only itself: mark its single row.
update ops.environments set is_self = true
where not is_self and (select count(*) from ops.environments) = 1;

-- True when this environment's policy requires approval for some plan.
create or replace function ops.writes_need_approval()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select e.high_risk_approvals > 0 from ops.environments as e where e.is_self),
    false
  );
$$;

comment on function ops.writes_need_approval() is
  'True when this database''s own environment requires approval: promotable rows then change only inside an approved promotion.';

revoke all on function ops.writes_need_approval() from public, anon;
grant execute on function ops.writes_need_approval() to authenticated, service_role;

-- The write permits: one row per transaction allowed to change promotable rows.
create table if not exists private.promotion_writes (
  xact xid8 primary key,
  promotion_id uuid references ops.promotions (id) on delete set null,
  purpose text not null check (purpose in ('apply', 'rollback', 'break_glass')),
  reason text check (length(reason) <= 500),
  opened_by uuid,
  opened_at timestamptz not null default now()
);

comment on table private.promotion_writes is
  'Write permits for promotable rows, keyed by transaction id; inserted only by ops.open_promotion_writes and ops.break_glass.';

create index if not exists promotion_writes_promotion_idx on private.promotion_writes (promotion_id);

alter table private.promotion_writes enable row level security;

revoke all on table private.promotion_writes from public, anon, authenticated, service_role;

-- The name of this database's own environment, or null when none is registered.
create or replace function ops.self_environment()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select e.name from ops.environments as e where e.is_self;
$$;

comment on function ops.self_environment() is
  'The name of the environment row marked is_self (this database), or null.';

revoke all on function ops.self_environment() from public, anon;
grant execute on function ops.self_environment() to authenticated, service_role;

-- The current transaction's write permit (all fields null without one).
create or replace function private.current_permit()
returns private.promotion_writes
language sql
stable
security definer
set search_path = ''
as $$
  select w.* from private.promotion_writes as w
  where w.xact = pg_catalog.pg_current_xact_id_if_assigned();
$$;

revoke all on function private.current_permit() from public, anon, authenticated, service_role;

-- Opens promotable writes for the current transaction on behalf of a promotion that is being
-- applied (status `applying`) or was rolled back in this very transaction.
create or replace function ops.open_promotion_writes(promotion uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  p record;
  self_name text;
  purpose text;
begin
  select pr.status, pr.target_env, pr.rolled_back_at
    into p
    from ops.promotions as pr
   where pr.id = promotion;
  if not found then
    raise exception 'Cannot open writes for promotion %: it does not exist', promotion
      using errcode = 'insufficient_privilege';
  end if;
  self_name := ops.self_environment();
  if self_name is not null and p.target_env <> self_name then
    raise exception 'Cannot open writes for promotion %: it targets %, this is %',
      promotion, p.target_env, self_name
      using errcode = 'insufficient_privilege';
  end if;
  if p.status = 'applying' then
    purpose := 'apply';
  elsif p.status = 'rolled_back' and p.rolled_back_at = now() then
    purpose := 'rollback';
  else
    raise exception 'Cannot open writes for promotion %: it is %, not being applied or rolled back',
      promotion, p.status
      using errcode = 'insufficient_privilege';
  end if;
  insert into private.promotion_writes (xact, promotion_id, purpose, opened_by)
  values (pg_catalog.pg_current_xact_id(), promotion, purpose, auth.uid())
  on conflict (xact) do nothing;
end;
$$;

comment on function ops.open_promotion_writes(uuid) is
  'Apply and rollback only (the database owner): permits promotable writes in this transaction for a promotion being applied or just rolled back.';

revoke all on function ops.open_promotion_writes(uuid) from public, anon, authenticated, service_role;

-- The database owner's audited way around the gate, for repairs a promotion cannot make.
-- A superuser could disable the triggers instead; this keeps the act in the audit log.
create or replace function ops.break_glass(reason text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if reason is null or length(btrim(reason)) < 10 then
    raise exception 'Cannot break glass: give a reason of at least 10 characters'
      using errcode = 'invalid_parameter_value';
  end if;
  insert into private.promotion_writes (xact, purpose, reason, opened_by)
  values (pg_catalog.pg_current_xact_id(), 'break_glass', left(reason, 500), auth.uid())
  on conflict (xact) do nothing;
  perform ops.append_audit('gate.break_glass', 'environment', ops.self_environment(),
                           jsonb_build_object('reason', left(reason, 500), 'session_user', session_user::text),
                           ops.self_environment());
end;
$$;

comment on function ops.break_glass(text) is
  'Database owner only: permits promotable writes for this transaction outside a promotion, with an audit entry.';

revoke all on function ops.break_glass(text) from public, anon, authenticated, service_role;

-- BEFORE each statement: refuse a write to a gated table without a permit.
create or replace function private.gate_promotable_write()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  env text;
begin
  if not ops.writes_need_approval() then
    return null;
  end if;
  if (private.current_permit()).xact is not null then
    return null;
  end if;
  env := ops.self_environment();
  raise exception 'Cannot % %.%: % requires approval; change it through an approved promotion',
    lower(tg_op), tg_table_schema, tg_table_name, env
    using errcode = 'insufficient_privilege',
          hint = 'stagecoach promote plan … --to ' || env || ', or config set-secret for a secret';
end;
$$;

revoke all on function private.gate_promotable_write() from public, anon, authenticated, service_role;

-- AFTER each statement: one audit entry per statement that changed rows of a gated table.
-- The transition table is named `changed` by every trigger that calls this function.
create or replace function private.audit_promotable_write()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  n bigint;
  w private.promotion_writes;
begin
  if not ops.writes_need_approval() then
    return null;
  end if;
  -- Dynamic, so the linter does not look for a table named `changed` outside a trigger.
  execute 'select count(*) from changed' into n;
  if n = 0 then
    return null;
  end if;
  w := private.current_permit();
  perform ops.append_audit(
    'promotable.' || lower(tg_op),
    'table',
    tg_table_schema || '.' || tg_table_name,
    jsonb_strip_nulls(jsonb_build_object(
      'rows', n,
      'promotion_id', w.promotion_id,
      'purpose', w.purpose,
      'reason', w.reason
    )),
    ops.self_environment()
  );
  return null;
end;
$$;

revoke all on function private.audit_promotable_write() from public, anon, authenticated, service_role;

-- Attaches the gate and its audit to a promotable table (idempotent).
create or replace function private.gate_table(target regclass)
returns void
language plpgsql
set search_path = ''
as $$
begin
  execute format(
    'create or replace trigger gate_promotable_write
       before insert or update or delete or truncate on %s
       for each statement execute function private.gate_promotable_write()', target);
  execute format(
    'create or replace trigger audit_promotable_insert
       after insert on %s referencing new table as changed
       for each statement execute function private.audit_promotable_write()', target);
  execute format(
    'create or replace trigger audit_promotable_update
       after update on %s referencing new table as changed
       for each statement execute function private.audit_promotable_write()', target);
  execute format(
    'create or replace trigger audit_promotable_delete
       after delete on %s referencing old table as changed
       for each statement execute function private.audit_promotable_write()', target);
end;
$$;

comment on function private.gate_table(regclass) is
  'Attaches the approval gate and its per-statement audit to a promotable table.';

revoke all on function private.gate_table(regclass) from public, anon, authenticated, service_role;

select private.gate_table('public.app_config');
select private.gate_table('public.membership_tiers');
select private.gate_table('public.tier_features');
select private.gate_table('public.tier_prices');
select private.gate_table('public.feature_flags');
