-- Reverts 20261207000220_guard_rollout_percent: a flag's percentage may again be changed while a
-- rollout of it is in progress.

drop trigger if exists guard_rollout_percent on public.feature_flags;
drop function if exists private.guard_rollout_percent();
