-- Reverts 20261208000200_create_ops_promotion_actions: drops the report of what the caller may
-- do with a promotion (nothing stored; the guards are untouched).
drop function if exists ops.promotion_actions(uuid);
