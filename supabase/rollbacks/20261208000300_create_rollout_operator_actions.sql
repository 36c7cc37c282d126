-- Reverts 20261208000300_create_rollout_operator_actions: drops the operators' rollout actions
-- and their report (nothing stored; the owner-only functions are untouched).
drop function if exists ops.rollout_actions(uuid);
drop function if exists ops.operator_abort_rollout(uuid, text);
drop function if exists ops.operator_resume_rollout(uuid, text);
drop function if exists ops.operator_pause_rollout(uuid, text);
drop function if exists private.rollout_operator(text);
drop function if exists private.rollout_operator_check(uuid, text, text);
