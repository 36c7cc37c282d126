-- Intent: `ops.audit_log`, an append-only, tamper-evident (hash-chained) audit trail.
--
-- Append with `ops.append_audit(action, subject_type, subject_id, details[, environment])`;
-- API roles have no INSERT/UPDATE/DELETE/TRUNCATE privilege on the table. UPDATE, DELETE and
-- TRUNCATE are refused by triggers for every role, `postgres` and `service_role` included.
-- A superuser can still disable triggers; `ops.verify_audit_chain()` then exposes any edit.
--
-- Hash chain. Each row stores the previous row's hash (`prev_hash`, null for the first row)
-- and its own `hash`, computed by `ops.audit_entry_hash(...)`:
--
--   hash = lower hex of sha256( utf8( jsonb_build_array(
--            prev_hash, id, occurred_at_utc, actor, actor_role, action,
--            environment, subject_type, subject_id, details )::text ) )
--
--   where occurred_at_utc = to_char(occurred_at at time zone 'UTC',
--                                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
--   actor is the uuid's text, nulls are JSON null, and `details` is the jsonb value.
--   jsonb renders as `["a", 1, null, {"k": "v"}]` (", " and ": " separators, object keys in
--   jsonb order): a verifier outside Postgres should read `details::text` and splice it in.
--
-- Appends are serialised through the single row of `ops.audit_chain_head` (locked FOR
-- UPDATE until commit). The id is assigned under that lock as the previous id + 1, so ids are
-- gapless and id order is chain order (an identity column would hand out ids before the lock
-- and leave gaps on rollback); under REPEATABLE READ a concurrent append fails with a
-- serialisation error instead of forking the chain.

create table if not exists ops.audit_log (
  -- Assigned by the chain_audit_entry trigger: 1, 2, 3, ... without gaps.
  id bigint primary key,
  occurred_at timestamptz not null default clock_timestamp(),
  actor uuid,
  actor_role text,
  action text not null check (action ~ '^[a-z][a-z0-9_.:-]*$'),
  environment text,
  subject_type text,
  subject_id text,
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  prev_hash text,
  hash text not null
);

comment on table ops.audit_log is
  'Append-only, hash-chained audit trail. Append with ops.append_audit(); verify with ops.verify_audit_chain().';

create index if not exists audit_log_subject_idx on ops.audit_log (subject_type, subject_id);

alter table ops.audit_log enable row level security;

revoke all on table ops.audit_log from public, anon, authenticated, service_role;
grant select on table ops.audit_log to authenticated, service_role;

-- The chain's tip: one row, locked by every append.
create table if not exists ops.audit_chain_head (
  singleton boolean primary key default true check (singleton),
  last_id bigint,
  last_hash text
);

comment on table ops.audit_chain_head is
  'The hash chain''s last entry; its row lock serialises appends to ops.audit_log.';

alter table ops.audit_chain_head enable row level security;

revoke all on table ops.audit_chain_head from public, anon, authenticated, service_role;
grant select on table ops.audit_chain_head to authenticated, service_role;

insert into ops.audit_chain_head (singleton) values (true) on conflict (singleton) do nothing;

-- The hash of one entry; see the formula at the top of this file.
create or replace function ops.audit_entry_hash(
  prev_hash text,
  id bigint,
  occurred_at timestamptz,
  actor uuid,
  actor_role text,
  action text,
  environment text,
  subject_type text,
  subject_id text,
  details jsonb
)
returns text
language sql
stable
set search_path = ''
as $$
  select encode(
    extensions.digest(
      jsonb_build_array(
        prev_hash,
        id,
        to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        actor,
        actor_role,
        action,
        environment,
        subject_type,
        subject_id,
        details
      )::text,
      'sha256'
    ),
    'hex'
  );
$$;

comment on function ops.audit_entry_hash(text, bigint, timestamptz, uuid, text, text, text, text, text, jsonb) is
  'sha256 hex of jsonb_build_array(prev_hash, id, occurred_at UTC ISO, actor, actor_role, action, environment, subject_type, subject_id, details)::text.';

revoke all on function ops.audit_entry_hash(text, bigint, timestamptz, uuid, text, text, text, text, text, jsonb) from public;
grant execute on function ops.audit_entry_hash(text, bigint, timestamptz, uuid, text, text, text, text, text, jsonb)
  to authenticated, service_role;

-- BEFORE INSERT: takes the chain lock, assigns id and time under it, fills the actor from the
-- JWT when not given, and links the row into the chain. Security definer because it advances
-- ops.audit_chain_head, which no API role may write.
create or replace function ops.chain_audit_entry()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  head record;
begin
  select h.last_id, h.last_hash
    into head
    from ops.audit_chain_head as h
   where h.singleton
     for update;

  if not found then
    raise exception 'Cannot append audit entry: ops.audit_chain_head is missing'
      using errcode = 'object_not_in_prerequisite_state';
  end if;

  new.id := coalesce(head.last_id, 0) + 1;
  new.occurred_at := pg_catalog.clock_timestamp();
  new.actor := coalesce(new.actor, auth.uid());
  new.actor_role := coalesce(new.actor_role, ops.caller_role()::text, auth.role(), session_user::text);
  new.details := coalesce(new.details, '{}'::jsonb);
  new.prev_hash := head.last_hash;
  new.hash := ops.audit_entry_hash(
    new.prev_hash, new.id, new.occurred_at, new.actor, new.actor_role, new.action,
    new.environment, new.subject_type, new.subject_id, new.details
  );

  update ops.audit_chain_head
     set last_id = new.id, last_hash = new.hash
   where singleton;

  return new;
end;
$$;

revoke all on function ops.chain_audit_entry() from public;

-- Refuses UPDATE, DELETE and TRUNCATE, whoever asks.
create or replace function ops.refuse_audit_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'Cannot % ops.audit_log: the audit log is append-only', lower(tg_op)
    using errcode = 'insufficient_privilege';
end;
$$;

revoke all on function ops.refuse_audit_change() from public;

create or replace trigger chain_audit_entry
  before insert on ops.audit_log
  for each row execute function ops.chain_audit_entry();

create or replace trigger refuse_update_or_delete
  before update or delete on ops.audit_log
  for each row execute function ops.refuse_audit_change();

create or replace trigger refuse_truncate
  before truncate on ops.audit_log
  for each statement execute function ops.refuse_audit_change();

-- Appends one entry as the caller: ops members (any role), the service role, or a direct
-- database session without JWT claims (the stack, migrations). Returns the new entry's id.
create or replace function ops.append_audit(
  action text,
  subject_type text,
  subject_id text,
  details jsonb default '{}',
  environment text default null
)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  jwt_role text := auth.role();
  new_id bigint;
begin
  if not (
    ops.is_member()
    or jwt_role = 'service_role'
    or (jwt_role is null and auth.uid() is null)
  ) then
    raise exception 'Cannot append audit entry: caller is not an ops member'
      using errcode = 'insufficient_privilege';
  end if;

  insert into ops.audit_log (action, environment, subject_type, subject_id, details)
  values (action, environment, subject_type, subject_id, coalesce(details, '{}'::jsonb))
  returning id into new_id;

  return new_id;
end;
$$;

comment on function ops.append_audit(text, text, text, jsonb, text) is
  'Appends an audit entry recording auth.uid() and the caller''s ops role (or JWT role). Returns its id.';

revoke all on function ops.append_audit(text, text, text, jsonb, text) from public;
grant execute on function ops.append_audit(text, text, text, jsonb, text) to authenticated, service_role;

-- Walks the chain in id order and returns the id of the first entry that does not follow
-- from its predecessor (id not previous + 1, prev_hash not the previous hash, or hash not
-- recomputable); a missing tail entry is reported as the head's last_id. Null when intact.
-- Security invoker: ops members and the service role see every row.
create or replace function ops.verify_audit_chain()
returns bigint
language plpgsql
stable
set search_path = ''
as $$
declare
  broken bigint;
  tail record;
  head record;
begin
  if current_user = 'authenticated' and not ops.is_member() then
    raise exception 'Cannot verify audit chain: caller is not an ops member'
      using errcode = 'insufficient_privilege';
  end if;

  select min(e.id)
    into broken
    from (
      select
        a.id,
        a.prev_hash,
        a.hash,
        coalesce(lag(a.id) over (order by a.id), 0) + 1 as expected_id,
        lag(a.hash) over (order by a.id) as expected_prev,
        ops.audit_entry_hash(
          a.prev_hash, a.id, a.occurred_at, a.actor, a.actor_role, a.action,
          a.environment, a.subject_type, a.subject_id, a.details
        ) as expected_hash
      from ops.audit_log as a
    ) as e
   where e.id <> e.expected_id
      or e.prev_hash is distinct from e.expected_prev
      or e.hash is distinct from e.expected_hash;

  if broken is not null then
    return broken;
  end if;

  select a.id, a.hash into tail from ops.audit_log as a order by a.id desc limit 1;
  select h.last_id, h.last_hash into head from ops.audit_chain_head as h where h.singleton;

  if head.last_hash is distinct from tail.hash then
    return coalesce(head.last_id, tail.id);
  end if;

  return null;
end;
$$;

comment on function ops.verify_audit_chain() is
  'Id of the first audit entry that breaks the hash chain, or null when the chain is intact.';

revoke all on function ops.verify_audit_chain() from public;
grant execute on function ops.verify_audit_chain() to authenticated, service_role;

drop policy if exists "Ops members can read the audit log" on ops.audit_log;
create policy "Ops members can read the audit log"
  on ops.audit_log for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Ops members can read the audit chain head" on ops.audit_chain_head;
create policy "Ops members can read the audit chain head"
  on ops.audit_chain_head for select to authenticated
  using ((select ops.is_member()));
