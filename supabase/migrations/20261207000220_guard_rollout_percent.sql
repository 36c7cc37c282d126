-- Intent: while a rollout of a flag is running or paused, only that rollout moves the flag's
-- `rollout_percent` — not a promotion planned with `--include-flag-state`, not break glass, not
-- the SQL editor. Rollout state is the environment's own and never crosses in a promotion; before
-- this, an apply carrying flag state could set a percentage the rollout had not reached (or undo
-- a breach's return to 0 %) and the next stage would silently overwrite it again.
--
-- `private.guard_rollout_percent()` runs BEFORE UPDATE OF rollout_percent on
-- public.feature_flags, per row: a changed percentage of a flag with an active rollout passes only
-- under the rollout's own write permit (purpose `rollout` in this transaction, opened only by
-- `private.write_rollout_percent`). Otherwise it raises 55000 (object_not_in_prerequisite_state)
-- naming the flag, the rollout and what to do (pause changes nothing; abort it first), so the
-- whole statement — and an apply's whole transaction — writes nothing. `enabled` (the kill
-- switch) stays free.
-- Revert: supabase/rollbacks/20261207000220_guard_rollout_percent.sql.

create or replace function private.guard_rollout_percent()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  active ops.flag_rollouts;
begin
  if new.rollout_percent is not distinct from old.rollout_percent then
    return new;
  end if;
  select * into active from ops.flag_rollouts as r
  where r.flag_key = old.key and r.status in ('running', 'paused');
  if not found then
    return new;
  end if;
  if exists (select 1 from private.promotion_writes as w
             where w.xact = pg_catalog.pg_current_xact_id() and w.purpose = 'rollout') then
    return new;
  end if;
  raise exception 'Cannot change rollout_percent of flag %: rollout % is % at % %%',
      old.key, active.id, active.status, active.percent
    using errcode = '55000',
          hint = 'A rollout in progress owns the percentage: abort it (stagecoach rollout abort) first.';
end;
$$;

revoke all on function private.guard_rollout_percent() from public, anon, authenticated, service_role;

create or replace trigger guard_rollout_percent
  before update of rollout_percent on public.feature_flags
  for each row execute function private.guard_rollout_percent();
